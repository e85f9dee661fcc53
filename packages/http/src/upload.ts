import type { IncomingHttpHeaders } from 'node:http';
import { PassThrough, pipeline, Transform, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import busboy from 'busboy';
import { IngestError, IngestErrorCode } from '@anti-oom/core';
import type { NormalizedLimits } from './options.js';

/** Content types read as the CSV itself. */
const RAW_CSV_TYPES = new Set(['text/csv', 'text/plain', 'application/csv', 'text/tab-separated-values', 'application/vnd.ms-excel', 'application/octet-stream']);
const GZIP_TYPES = new Set(['application/gzip', 'application/x-gzip']);

/** How a request carries its file. @internal */
export type UploadKind = { kind: 'multipart' } | { kind: 'raw'; gzip: boolean };

/** The file of an upload, once its start has arrived. @internal */
export interface OpenedUpload {
  /** Text fields: multipart fields sent before the file, or the query string of a raw upload. */
  fields: Record<string, string>;
  /** The CSV bytes, decompressed, with the size limits applied. */
  file: Readable;
  filename: string | undefined;
  /**
   * Settles once the size-limit stages have let go of the body (after the file ended, or after a
   * reader stopped early and the body was unpiped and paused). An early answer waits for it, so
   * the renderer's drain of the rest is not paused again behind its back.
   */
  released: Promise<void>;
}

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}

/**
 * Decides from the headers alone whether the upload can be read, so an unsupported one is
 * refused before a byte of its body is consumed.
 * @internal
 */
export function classifyUpload(headers: Readonly<Record<string, string | string[] | undefined>>): UploadKind {
  const first = (name: string) => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const type = mediaType(first('content-type'));
  const encoding = (first('content-encoding') ?? 'identity').toLowerCase().trim();
  if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'x-gzip') {
    throw new IngestError(IngestErrorCode.E_UNSUPPORTED_MEDIA_TYPE, `Content-Encoding "${encoding}" is not supported; send gzip or no encoding.`);
  }
  const gzipEncoded = encoding !== 'identity';
  if (type === 'multipart/form-data') {
    if (gzipEncoded) throw new IngestError(IngestErrorCode.E_UNSUPPORTED_MEDIA_TYPE, 'A multipart body cannot be gzip-encoded; compress the file part instead.');
    return { kind: 'multipart' };
  }
  if (RAW_CSV_TYPES.has(type)) return { kind: 'raw', gzip: gzipEncoded };
  if (GZIP_TYPES.has(type)) return { kind: 'raw', gzip: true };
  throw new IngestError(
    IngestErrorCode.E_UNSUPPORTED_MEDIA_TYPE,
    `Content-Type "${type || '(none)'}" is not supported. Send text/csv (optionally gzip), application/gzip, or multipart/form-data with the file.`,
  );
}

/** Counts bytes and ends the stream with E_FILE_TOO_LARGE once more than `limit` went through. */
function byteLimit(limit: number, what: string, counted: { bytes: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, callback) {
      counted.bytes += chunk.length;
      if (counted.bytes > limit) {
        callback(new IngestError(IngestErrorCode.E_FILE_TOO_LARGE, `The ${what} is larger than the limit of ${limit} bytes.`, { limit }));
        return;
      }
      callback(null, chunk);
    },
  });
}

/**
 * After gunzip: two guards against a gzip bomb, decompressed bytes past `maxDecompressedBytes`
 * and a compression ratio no CSV reaches (checked once 16 MiB are out, so headers do not count).
 */
function bombGuard(limits: NormalizedLimits, compressed: { bytes: number }): Transform {
  let decompressed = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, callback) {
      decompressed += chunk.length;
      if (decompressed > limits.maxDecompressedBytes) {
        callback(
          new IngestError(IngestErrorCode.E_FILE_TOO_LARGE, `The decompressed file is larger than the limit of ${limits.maxDecompressedBytes} bytes.`, {
            limit: limits.maxDecompressedBytes,
          }),
        );
        return;
      }
      if (decompressed > 16 * 1024 * 1024 && decompressed > compressed.bytes * limits.maxCompressionRatio) {
        callback(
          new IngestError(
            IngestErrorCode.E_FILE_TOO_LARGE,
            `The file decompresses more than ${limits.maxCompressionRatio}x, which no CSV does; it was refused as a gzip bomb.`,
            { limit: limits.maxCompressionRatio },
          ),
        );
        return;
      }
      callback(null, chunk);
    },
  });
}

/**
 * The file's bytes through the size limits (and gunzip). The source is piped in rather than put
 * in the pipeline, so a limit error never destroys the request: the socket must live to carry
 * the 413.
 */
function decode(source: Readable, gzip: boolean, limits: NormalizedLimits, maxBytes: number): { file: Readable; released: Promise<void> } {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const compressed = { bytes: 0 };
  const first = byteLimit(maxBytes, 'upload', compressed);
  const stages: (Transform | PassThrough)[] = [first];
  if (gzip) {
    const gunzip = createGunzip();
    stages.push(gunzip, bombGuard(limits, compressed));
  }
  const out = new PassThrough();
  pipeline([...stages, out], (err) => {
    release();
    if (!err) return;
    source.unpipe(first);
    source.pause();
    const e = err as Error & { code?: string };
    out.destroy(
      typeof e.code === 'string' && e.code.startsWith('Z_')
        ? new IngestError(IngestErrorCode.E_BAD_REQUEST, `The gzip data is corrupt: ${e.message}`)
        : err,
    );
  });
  source.on('error', (err) => first.destroy(err));
  source.pipe(first);
  return { file: out, released };
}

function isGzipFile(filename: string | undefined, mimeType: string): boolean {
  return GZIP_TYPES.has(mimeType.toLowerCase()) || /\.gz$/i.test(filename ?? '');
}

/**
 * Opens the file of an upload: the raw body, or the one file part of a multipart body (text fields
 * before it are collected for the pipeline callback). Resolves when the file's first bytes can be
 * read; rejects with E_BAD_REQUEST when there is no file part.
 * @internal
 */
export function openUpload(
  req: Readable,
  query: URLSearchParams,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  kind: UploadKind,
  fileField: string,
  limits: NormalizedLimits,
): Promise<OpenedUpload> {
  if (kind.kind === 'raw') {
    return Promise.resolve({ fields: Object.fromEntries(query), ...decode(req, kind.gzip, limits, limits.maxFileBytes), filename: undefined });
  }
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: headers as IncomingHttpHeaders,
        limits: { files: 1, fields: limits.maxFields, fieldSize: limits.maxFieldBytes, fileSize: limits.maxFileBytes, parts: limits.maxFields + 1 },
      });
    } catch (err) {
      reject(new IngestError(IngestErrorCode.E_BAD_REQUEST, `The multipart body cannot be read: ${(err as Error).message}`));
      return;
    }
    const fields: Record<string, string> = {};
    let opened = false;
    const fail = (err: IngestError): void => {
      if (!opened) reject(err);
      req.unpipe(parser);
      parser.destroy(err);
    };
    parser.on('field', (name, value, info) => {
      if (info.valueTruncated) return fail(new IngestError(IngestErrorCode.E_BAD_REQUEST, `Field "${name}" is longer than ${limits.maxFieldBytes} bytes.`));
      fields[name] = value;
    });
    parser.on('fieldsLimit', () => fail(new IngestError(IngestErrorCode.E_BAD_REQUEST, `More than ${limits.maxFields} form fields.`)));
    parser.on('partsLimit', () => fail(new IngestError(IngestErrorCode.E_BAD_REQUEST, 'Too many parts in the multipart body.')));
    parser.on('filesLimit', () => fail(new IngestError(IngestErrorCode.E_BAD_REQUEST, 'Send exactly one file per upload.')));
    parser.on('file', (name, stream, info) => {
      if (name !== fileField || opened) {
        // Drained and ignored; its errors are the parser's, reported once through `fail`.
        stream.on('error', () => {});
        stream.resume();
        return fail(new IngestError(IngestErrorCode.E_BAD_REQUEST, opened ? 'Send exactly one file per upload.' : `The file must be in the form field "${fileField}"; got "${name}".`));
      }
      opened = true;
      stream.once('limit', () =>
        stream.destroy(new IngestError(IngestErrorCode.E_FILE_TOO_LARGE, `The file is larger than the limit of ${limits.maxFileBytes} bytes.`, { limit: limits.maxFileBytes })),
      );
      parser.on('error', (err) => stream.destroy(err as Error));
      resolve({ fields, ...decode(stream, isGzipFile(info.filename, info.mimeType), limits, Infinity), filename: info.filename });
    });
    parser.on('error', (err) => {
      if (!opened) reject(new IngestError(IngestErrorCode.E_BAD_REQUEST, `The multipart body cannot be read: ${(err as Error).message}`));
    });
    parser.once('close', () => {
      if (!opened) reject(new IngestError(IngestErrorCode.E_BAD_REQUEST, `The multipart body has no file in the field "${fileField}".`));
    });
    req.pipe(parser);
  });
}
