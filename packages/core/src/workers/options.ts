import type { StandardSchemaV1 } from '@standard-schema/spec';
import iconv from 'iconv-lite';
import { invalidOption, IngestError, IngestErrorCode } from '../errors.js';
import type { NormalizedCsvOptions } from '../csv/options.js';
import { numberOption } from '../options/number-option.js';
import type { RowMapper } from '../rows/row-processor.js';
import type { BatchWriter } from '../types.js';

/**
 * What a worker needs to write: built in each worker thread, since a sink, a `map` function or a
 * schema cannot cross a thread boundary.
 */
export interface WorkerSetup {
  /** Where this worker's rows go (its own connection). */
  sink: BatchWriter;
  /** Shapes each row, as the pipeline's `map` option. */
  map?: RowMapper<object>;
  /** Validates each row, as the pipeline's `schema` option. */
  schema?: StandardSchemaV1;
  /** Called once when the worker is done (close the connection here). */
  close?(): Promise<void> | void;
}

/** What a workers module's setup function is given, in each worker. */
export interface WorkerContext {
  /** `workers.data`, as a structured clone. */
  data: unknown;
  /** This worker's index, from 0. */
  index: number;
  /** How many workers the import runs. */
  count: number;
  /** The import's id. */
  importId: string;
}

/**
 * The connection each worker opens itself when `workers.mongo` is given: the same as
 * `mongoSink(new MongoClient(uri).db(db).collection(collection), { mode, key })`.
 */
export interface WorkersMongoOptions {
  /** Connection string; each worker opens its own client with it. */
  uri: string;
  db: string;
  collection: string;
  /** @defaultValue `'insert'` */
  mode?: 'insert' | 'upsert' | 'merge';
  key?: string | readonly string[];
  /** Passed to each worker's `MongoClient` (must be cloneable: no functions). */
  clientOptions?: Record<string, unknown>;
}

/**
 * Spreads parsing, typing, mapping and writing over worker threads (`node:worker_threads`). The
 * main thread only reads the input, finds where records end (quote-aware) and hands each worker
 * ranges of whole records with the line they start on; every worker has its own sink.
 *
 * Exactly one of `module` or `mongo` says how a worker gets its sink. With `workers`, leave out
 * the pipeline's `sink`, `map` and `schema`: they are built in each worker.
 *
 * @example
 * ```ts
 * // my-import.js: runs in every worker
 * export default async function setup({ data }) {
 *   const client = await new MongoClient(data.uri).connect();
 *   return { sink: mongoSink(client.db('shop').collection('products')), map: (row) => ({ ...row, price: Number(row.price) }), close: () => client.close() };
 * }
 * // the app
 * createIngestPipeline({ workers: { count: 4, module: new URL('./my-import.js', import.meta.url), data: { uri } } });
 * ```
 */
export interface WorkersOptions {
  /** Worker threads. `1` runs the same path with one worker. */
  count: number;
  /**
   * A module (absolute path or `file:` URL) whose default export (or export named `setup`) is
   * called once in each worker with a {@link WorkerContext} and returns (or resolves to) a
   * {@link WorkerSetup}.
   */
  module?: string | URL;
  /** Anything structured-cloneable, handed to the module's setup as `data`. */
  data?: unknown;
  /** The built-in alternative to `module`: each worker opens its own MongoDB client. */
  mongo?: WorkersMongoOptions;
  /**
   * Bytes of whole records per range handed to a worker. Each worker holds at most two ranges
   * waiting; with `count` workers the main thread has at most `2 × count` ranges out.
   * @defaultValue `262144` (256 KiB)
   */
  rangeBytes?: number;
}

/** @internal */
export interface NormalizedWorkersOptions {
  count: number;
  setup: { module: string } | { mongo: WorkersMongoOptions };
  data: unknown;
  rangeBytes: number;
}

/** Checks `workers` alone. @internal */
export function normalizeWorkersOptions(options: WorkersOptions | undefined): NormalizedWorkersOptions | undefined {
  if (options === undefined) return undefined;
  if (options === null || typeof options !== 'object') throw invalidOption('workers', '{ count, module } or { count, mongo }', options);
  const count = numberOption('workers.count', options.count, 1, { min: 1, max: 256, integer: true });
  const rangeBytes = numberOption('workers.rangeBytes', options.rangeBytes, 256 * 1024, { min: 1024, integer: true });
  if ((options.module === undefined) === (options.mongo === undefined)) {
    throw invalidOption('workers', 'an object with exactly one of `module` (a setup module) or `mongo` ({ uri, db, collection })', options);
  }
  let setup: NormalizedWorkersOptions['setup'];
  if (options.module !== undefined) {
    const m = options.module;
    const href = m instanceof URL ? m.href : typeof m === 'string' && m.length > 0 ? m : undefined;
    if (href === undefined) throw invalidOption('workers.module', 'an absolute path or a file: URL', m);
    setup = { module: href };
  } else {
    const mongo = options.mongo!;
    for (const name of ['uri', 'db', 'collection'] as const) {
      if (typeof mongo?.[name] !== 'string' || mongo[name].length === 0) throw invalidOption(`workers.mongo.${name}`, 'a non-empty string', mongo?.[name]);
    }
    const mode = mongo.mode ?? 'insert';
    if (mode !== 'insert' && mode !== 'upsert' && mode !== 'merge') throw invalidOption('workers.mongo.mode', "'insert', 'upsert' or 'merge'", mode);
    setup = { mongo: { ...mongo, mode } };
  }
  try {
    structuredClone(options.data);
  } catch {
    throw invalidOption('workers.data', 'a structured-cloneable value (no functions or class instances with private state)', typeof options.data);
  }
  return { count, setup, data: options.data, rangeBytes };
}

/** What else the pipeline was given, to refuse what workers cannot do exactly. @internal */
export interface WorkersCompanions {
  sink: unknown;
  map: unknown;
  schema: unknown;
  types: unknown;
  resume: unknown;
  csv: NormalizedCsvOptions;
}

/** Refuses combinations with `workers` that could not behave as with one thread. @internal */
export function checkWorkersCompanions(workers: NormalizedWorkersOptions, o: WorkersCompanions): void {
  const refuse = (option: string, why: string): never => {
    throw new IngestError(IngestErrorCode.E_OPTIONS, `Option "${option}" cannot be used with "workers": ${why}`, { option });
  };
  if (o.sink !== undefined) refuse('sink', 'each worker builds its own sink; return it from workers.module, or use workers.mongo.');
  if (o.map !== undefined) refuse('map', 'functions cannot cross into worker threads; return map from the setup in workers.module.');
  if (o.schema !== undefined) refuse('schema', 'validators cannot cross into worker threads; return schema from the setup in workers.module.');
  if (o.types === 'infer') refuse('types', "'infer' chooses types from the first rows, which each worker would see differently; give the types, or run without workers.");
  if (o.resume !== undefined) refuse('resume', 'checkpoints follow one settled frontier, which workers do not keep yet; run resumable imports without workers.');
  if ('mongo' in workers.setup && workers.count > 1 && workers.setup.mongo.mode !== 'insert') {
    refuse('workers.mongo.mode', `'${workers.setup.mongo.mode}' must apply rows with the same key in file order ("later row wins"), which separate workers cannot promise; use one worker, or mode 'insert'.`);
  }
  const csv = o.csv;
  if (csv.trim || (csv.quote !== null && (csv.quote.length !== 1 || csv.escape !== csv.quote))) {
    refuse('csv', 'the main thread finds record ends the way the fast engine reads them, so csv.trim, a quote of several characters or an escape other than the quote are not supported; run without workers.');
  }
  if (csv.delimiter !== 'auto' && Buffer.byteLength(csv.delimiter) !== 1) {
    refuse('csv.delimiter', 'record ends are found with a one-byte delimiter; a longer one is not supported with workers.');
  }
  if (csv.quote !== null && csv.quote.charCodeAt(0) > 0x7f) refuse('csv.quote', 'the quote must be an ASCII character with workers.');
  if (csv.encoding !== 'auto' && csv.encoding !== 'utf8' && !isScanSafeCharset(csv.encoding)) {
    refuse('csv.encoding', `record ends are found in the source bytes, which needs UTF-8 or a one-byte charset; "${csv.encoding}" is neither.`);
  }
}

/**
 * UTF-8, or a charset in which every byte is one character and ASCII is itself: there, a quote,
 * a CR or an LF byte is always that character, so record ends can be found without decoding.
 * @internal
 */
export function isScanSafeCharset(charset: string): boolean {
  const l = charset.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (l === 'utf8') return true;
  if (l.startsWith('utf') || l.startsWith('ucs')) return false;
  // Single byte, ASCII-compatible: each of the 256 bytes one character, 0x00-0x7f themselves.
  const all = Buffer.alloc(256);
  for (let i = 0; i < 256; i++) all[i] = i;
  const text = iconv.decode(all, charset, { stripBOM: false });
  if (text.length !== 256) return false;
  for (let i = 0; i < 128; i++) if (text.charCodeAt(i) !== i) return false;
  return true;
}
