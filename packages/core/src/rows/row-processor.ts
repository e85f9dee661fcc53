import type { StandardSchemaV1 } from '@standard-schema/spec';
import { invalidOption } from '../errors.js';
import type { CsvRecord, LinedDocument, RowFailure, RowFailureValues } from '../types.js';
import { RowFailureCode } from '../types.js';
import { compileTypes, isConversionError, type ColumnTypes, type Converter } from './convert.js';

/** What `map` gets besides the row. */
export interface RowContext {
  /** 1-based physical line where the record starts. */
  line: number;
  /** The import's id. */
  importId: string;
}

/**
 * Turns a row into the document to write. Return `undefined` to skip the row (it counts as
 * skipped); throw to fail it (`E_MAP`, with your message). May be async.
 */
export type RowMapper<TDoc extends object = Record<string, unknown>> = (
  row: Record<string, unknown>,
  context: RowContext,
) => TDoc | undefined | Promise<TDoc | undefined>;

/** Where the row processor sends each row's fate. @internal */
export interface RowOutcomes {
  document(item: LinedDocument): void;
  failure(failure: RowFailure, values?: RowFailureValues): void;
  skip(line: number): void;
}

/** @internal */
export interface RowProcessorOptions {
  types?: ColumnTypes | undefined;
  schema?: StandardSchemaV1 | undefined;
  map?: RowMapper<object> | undefined;
  importId: string;
}

const MAX_ISSUES_SHOWN = 3;

function describeIssues(issues: ReadonlyArray<StandardSchemaV1.Issue>): { message: string; column?: string } {
  const parts = issues.slice(0, MAX_ISSUES_SHOWN).map((issue) => {
    const path = (issue.path ?? []).map((p) => String(typeof p === 'object' ? p.key : p)).join('.');
    return path ? `${path}: ${issue.message}` : issue.message;
  });
  if (issues.length > MAX_ISSUES_SHOWN) parts.push(`and ${issues.length - MAX_ISSUES_SHOWN} more`);
  const first = issues[0]?.path?.[0];
  const column = first === undefined ? undefined : String(typeof first === 'object' ? first.key : first);
  return column === undefined ? { message: parts.join('; ') } : { message: parts.join('; '), column };
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function';
}

/**
 * Types, validation and mapping of one row, in that order: `types` converts the strings,
 * `schema` (any Standard Schema v1 validator) checks and may transform the typed row, and
 * `map` shapes the document. Synchronous steps stay synchronous; only an async schema or map
 * costs a promise.
 * @internal
 */
export class RowProcessor {
  readonly #converters: [string, Converter][];
  readonly #schema: StandardSchemaV1 | undefined;
  readonly #map: RowMapper<object> | undefined;
  readonly #importId: string;
  /**
   * The text of each column `types` converted in the current row, so a failed row can be reported
   * with its values as read. Reused: rows are processed one at a time, even with an async step.
   */
  readonly #texts: (string | undefined)[];

  constructor(options: RowProcessorOptions) {
    this.#converters = [...compileTypes(options.types)];
    this.#texts = new Array<string | undefined>(this.#converters.length);
    if (options.schema !== undefined && typeof options.schema?.['~standard']?.validate !== 'function') {
      throw invalidOption('schema', 'a Standard Schema v1 validator (zod, valibot, arktype, ...)', options.schema);
    }
    if (options.map !== undefined && typeof options.map !== 'function') throw invalidOption('map', 'a function', options.map);
    this.#schema = options.schema;
    this.#map = options.map;
    this.#importId = options.importId;
  }

  /** Sends the row's fate to `out`; returns a promise only when an async step is involved. */
  process(record: CsvRecord, out: RowOutcomes): void | Promise<void> {
    const row: Record<string, unknown> = record.row;
    const converters = this.#converters;
    const texts = this.#texts;
    for (let i = 0; i < converters.length; i++) {
      const [column, convert] = converters[i]!;
      const text = row[column];
      texts[i] = undefined;
      if (typeof text !== 'string') continue;
      texts[i] = text;
      if (text === '') {
        row[column] = null;
        continue;
      }
      try {
        row[column] = convert(text);
      } catch (err) {
        if (!isConversionError(err)) throw err;
        for (let j = i + 1; j < converters.length; j++) texts[j] = undefined;
        out.failure({ line: record.line, code: RowFailureCode.E_TYPE, message: `Column "${column}": ${err.message}.`, column }, this.#valuesAsRead(record));
        return;
      }
    }
    if (this.#schema === undefined) return this.#mapRow(record, row, out);
    const result = this.#schema['~standard'].validate(row);
    if (isPromiseLike(result)) return Promise.resolve(result).then((r) => this.#afterSchema(record, r, out));
    return this.#afterSchema(record, result, out);
  }

  #afterSchema(record: CsvRecord, result: StandardSchemaV1.Result<unknown>, out: RowOutcomes): void | Promise<void> {
    if (result.issues !== undefined) {
      out.failure({ line: record.line, code: RowFailureCode.E_VALIDATION, ...describeIssues(result.issues) }, this.#valuesAsRead(record));
      return;
    }
    return this.#mapRow(record, result.value as Record<string, unknown>, out);
  }

  #mapRow(record: CsvRecord, row: Record<string, unknown>, out: RowOutcomes): void | Promise<void> {
    if (this.#map === undefined) {
      out.document({ line: record.line, document: row, bytes: record.bytes, end: record.end, nextLine: record.nextLine });
      return;
    }
    let mapped: unknown;
    try {
      mapped = this.#map(row, { line: record.line, importId: this.#importId });
    } catch (err) {
      this.#mapFailed(record, err, out);
      return;
    }
    if (isPromiseLike(mapped)) {
      return Promise.resolve(mapped).then(
        (doc) => this.#emitMapped(record, doc, out),
        (err: unknown) => this.#mapFailed(record, err, out),
      );
    }
    this.#emitMapped(record, mapped, out);
  }

  #emitMapped(record: CsvRecord, doc: unknown, out: RowOutcomes): void {
    if (doc === undefined) {
      out.skip(record.line);
    } else if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
      out.failure({ line: record.line, code: RowFailureCode.E_MAP, message: 'map must return an object, or undefined to skip the row.' }, this.#valuesAsRead(record));
    } else {
      out.document({ line: record.line, document: doc as Record<string, unknown>, bytes: record.bytes, end: record.end, nextLine: record.nextLine });
    }
  }

  #mapFailed(record: CsvRecord, err: unknown, out: RowOutcomes): void {
    const message = err instanceof Error ? err.message : String(err);
    out.failure({ line: record.line, code: RowFailureCode.E_MAP, message: `map threw: ${message}` }, this.#valuesAsRead(record));
  }

  /** The row's fields as they were read: `types` converts in place, so its inputs are put back. */
  #valuesAsRead(record: CsvRecord): Record<string, unknown> {
    const values: Record<string, unknown> = { ...record.row };
    const converters = this.#converters;
    for (let i = 0; i < converters.length; i++) {
      const text = this.#texts[i];
      if (text !== undefined) values[converters[i]![0]] = text;
    }
    return values;
  }
}
