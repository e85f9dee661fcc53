import type { IngestReport } from './types.js';

/**
 * Codes of the errors that end an import. Match on these, never on message text.
 *
 * Kept as a `const` object so the union type and the runtime list cannot drift.
 */
export const IngestErrorCode = {
  /** An option has a value the library cannot use; the message names the option. */
  E_OPTIONS: 'E_OPTIONS',
  /** The header row (or the `columns` option) has a name MongoDB or JavaScript cannot store safely. */
  E_HEADER_INVALID: 'E_HEADER_INVALID',
  /** The header has more columns than `csv.maxColumns`. */
  E_TOO_MANY_COLUMNS: 'E_TOO_MANY_COLUMNS',
  /** The input is not CSV the parser can recover from. */
  E_CSV_MALFORMED: 'E_CSV_MALFORMED',
  /** One record is larger than `csv.maxRecordBytes`. */
  E_ROW_TOO_LARGE: 'E_ROW_TOO_LARGE',
  /** The input is larger than the configured byte limit. */
  E_FILE_TOO_LARGE: 'E_FILE_TOO_LARGE',
  /** The input's charset is not one iconv-lite knows. */
  E_ENCODING: 'E_ENCODING',
  /** More rows failed than `maxFailures` allows. */
  E_TOO_MANY_FAILURES: 'E_TOO_MANY_FAILURES',
  /** The database refused a batch for a reason retrying cannot fix, or stayed unreachable past the retry budget. */
  E_SINK: 'E_SINK',
  /** The source stream failed (a file read error, a broken upload). */
  E_SOURCE: 'E_SOURCE',
  /** The import was aborted through its `AbortSignal` or `abort()`. */
  E_ABORTED: 'E_ABORTED',
  /** A bug or an unexpected exception; the `cause` holds the original. */
  E_INTERNAL: 'E_INTERNAL',
  /** `resume` was asked for, but the checkpoint under its key was taken from a different source (size or first bytes differ). Nothing was written. */
  E_RESUME_MISMATCH: 'E_RESUME_MISMATCH',
  /** `resume` was asked for, and the import under its key already completed. Start over with `restart`. */
  E_ALREADY_DONE: 'E_ALREADY_DONE',
  /**
   * `resume` was asked for with a source that cannot be read from an offset (a stream, stdin, an
   * HTTP body), without `resume.stream: 'checkpoint-only'`; or with it, under a key whose import
   * stopped part-way (`context.line` and `context.offset` say where). Nothing was read.
   */
  E_NOT_SEEKABLE: 'E_NOT_SEEKABLE',

  // Codes used by the HTTP adapters (`@anti-oom/http` and those built on it).
  /** The upload's content type is not CSV, gzip or multipart/form-data. */
  E_UNSUPPORTED_MEDIA_TYPE: 'E_UNSUPPORTED_MEDIA_TYPE',
  /** The request is malformed: no file part, several file parts, broken multipart. */
  E_BAD_REQUEST: 'E_BAD_REQUEST',
  /** The upload stopped arriving for longer than the idle timeout. */
  E_IDLE_TIMEOUT: 'E_IDLE_TIMEOUT',
  /** Too many imports are running; retry after the `Retry-After` header. */
  E_TOO_MANY_IMPORTS: 'E_TOO_MANY_IMPORTS',
  /** `authorize` wants the caller to authenticate. */
  E_UNAUTHORIZED: 'E_UNAUTHORIZED',
  /** `authorize` refused the caller. */
  E_FORBIDDEN: 'E_FORBIDDEN',
  /** No import with that id (never created, or expired). */
  E_NOT_FOUND: 'E_NOT_FOUND',
  /** The import is not in a state that allows this (an upload to a started import, cancelling a finished one). */
  E_CONFLICT: 'E_CONFLICT',
  /** A state-changing request came from another site (`Origin` or `Sec-Fetch-Site`); see `allowedOrigins`. */
  E_CROSS_SITE: 'E_CROSS_SITE',
  /** Too many progress streams are open (on this import, or in all); retry after the `Retry-After` header. */
  E_TOO_MANY_WATCHERS: 'E_TOO_MANY_WATCHERS',
} as const;

/** The string code of an {@link IngestError}. */
export type IngestErrorCode = (typeof IngestErrorCode)[keyof typeof IngestErrorCode];

/** HTTP status each code maps to, for the adapters. */
const STATUS_BY_CODE: Record<IngestErrorCode, number> = {
  E_OPTIONS: 500,
  E_HEADER_INVALID: 400,
  E_TOO_MANY_COLUMNS: 400,
  E_CSV_MALFORMED: 400,
  E_ROW_TOO_LARGE: 413,
  E_FILE_TOO_LARGE: 413,
  E_ENCODING: 415,
  E_TOO_MANY_FAILURES: 422,
  E_SINK: 503,
  E_SOURCE: 400,
  E_ABORTED: 499,
  E_INTERNAL: 500,
  E_RESUME_MISMATCH: 409,
  E_ALREADY_DONE: 409,
  E_NOT_SEEKABLE: 400,
  E_UNSUPPORTED_MEDIA_TYPE: 415,
  E_BAD_REQUEST: 400,
  E_IDLE_TIMEOUT: 408,
  E_TOO_MANY_IMPORTS: 429,
  E_UNAUTHORIZED: 401,
  E_FORBIDDEN: 403,
  E_NOT_FOUND: 404,
  E_CONFLICT: 409,
  E_CROSS_SITE: 403,
  E_TOO_MANY_WATCHERS: 429,
};

/** Where an {@link IngestError} happened, when it is known. */
export interface IngestErrorContext {
  /** 1-based physical line of the input. */
  line?: number;
  /** Column name. */
  column?: string;
  /** The limit that was crossed. */
  limit?: number;
  /** The option at fault, for `E_OPTIONS`. */
  option?: string;
  /** Byte offset in the source (where a resumable import stopped, for `E_NOT_SEEKABLE`). */
  offset?: number;
}

/**
 * The one error class of Anti-OOM: every failure that ends an import.
 *
 * Row-level problems are never thrown; they are {@link RowFailure} records in the report.
 * Check `err.code` (or `isIngestError(err)`) rather than `instanceof`, which fails when
 * two copies of the package are installed.
 */
export class IngestError extends Error {
  override readonly name = 'IngestError';
  /** Stable code; see {@link IngestErrorCode}. */
  readonly code: IngestErrorCode;
  /** Line, column or limit involved, where known. */
  readonly context: IngestErrorContext;
  /** The HTTP status an adapter answers with. */
  readonly statusCode: number;
  /** What was written before the import ended. Set by `run()` when it rejects. */
  report?: IngestReport;

  constructor(code: IngestErrorCode, message: string, context: IngestErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.context = context;
    this.statusCode = STATUS_BY_CODE[code];
  }

  /** A plain object safe to log or send as JSON. */
  toJSON(): { code: IngestErrorCode; message: string; context: IngestErrorContext } {
    return { code: this.code, message: this.message, context: this.context };
  }
}

/** True for an {@link IngestError} from any copy of this package. */
export function isIngestError(value: unknown): value is IngestError {
  return (
    value instanceof Error &&
    value.name === 'IngestError' &&
    typeof (value as { code?: unknown }).code === 'string'
  );
}

/**
 * Builds the `E_OPTIONS` error for one option, naming the value it got.
 * @internal Shared with the adapter packages.
 */
export function invalidOption(option: string, expected: string, got: unknown): IngestError {
  let shown: string;
  try {
    // JSON would show Infinity and NaN as null.
    shown = typeof got === 'function' ? 'a function' : typeof got === 'number' ? String(got) : JSON.stringify(got) ?? String(got);
  } catch {
    shown = String(got);
  }
  return new IngestError(IngestErrorCode.E_OPTIONS, `Option "${option}" must be ${expected}; got ${shown}.`, { option });
}
