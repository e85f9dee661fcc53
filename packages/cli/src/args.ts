import { parseArgs } from 'node:util';
import { isIngestError, numberOption, type ColumnType, type ColumnTypes, type MongoSinkMode } from '@anti-oom/core';
import { LOG_LEVELS, type LogLevel } from './logger.js';
import type { PreviewCommand } from './preview.js';

/** What `anti-oom import` was asked to do. */
export interface ImportCommand {
  kind: 'import';
  /** A path, or `-` for standard input. */
  input: string;
  uri: string;
  db: string | undefined;
  collection: string | undefined;
  mode: MongoSinkMode;
  key: string[] | undefined;
  delimiter: string | undefined;
  encoding: string | undefined;
  /** Column types, or 'infer' to choose them from the first rows. */
  types: ColumnTypes | 'infer' | undefined;
  /** Column names for a file without a header row. */
  fields: string[] | undefined;
  /** Drop the collection before importing (its indexes are created again). */
  drop: boolean;
  /** Create the unique index on `key` when the collection lacks it (upsert and merge). */
  createIndex: boolean;
  /** After a stop signal, how long batches in flight may take to be acknowledged. */
  stopTimeoutSeconds: number;
  /** The CSV tokenizer. */
  engine: 'csv-parse' | 'fast' | undefined;
  batchSize: number | undefined;
  concurrency: number | undefined;
  /** Worker threads that parse, type and write, each with its own connection (`--workers`). */
  workers: number | undefined;
  maxFailures: number | undefined;
  failuresOut: string | undefined;
  dryRun: boolean;
  json: boolean;
  /** Keep checkpoints, and continue from the last one (`--resume`). */
  resume: boolean;
  /** Forget the checkpoint and start over, keeping checkpoints (`--restart`). */
  restart: boolean;
  /** pino level of the JSON log lines on stderr; no logging when absent. */
  logLevel: LogLevel | undefined;
}

/** A parsed command line. */
export type Command = ImportCommand | PreviewCommand | { kind: 'help' } | { kind: 'version' } | { kind: 'usage' };

/** The command line is wrong; the message says how. Exit code 2. */
export class UsageError extends Error {
  readonly code = 'E_USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const MODES: readonly MongoSinkMode[] = ['insert', 'upsert', 'merge'];
const TYPES: readonly ColumnType[] = ['string', 'number', 'int', 'boolean', 'date', 'objectId', 'json'];
/** Delimiters that are awkward to type in a shell. */
const DELIMITER_NAMES: Record<string, string> = { tab: '\t', '\\t': '\t', comma: ',', semicolon: ';', pipe: '|' };

const OPTIONS = {
  uri: { type: 'string' },
  db: { type: 'string', short: 'd' },
  collection: { type: 'string', short: 'c' },
  mode: { type: 'string' },
  key: { type: 'string' },
  delimiter: { type: 'string' },
  fields: { type: 'string', short: 'f' },
  drop: { type: 'boolean' },
  'create-index': { type: 'boolean' },
  'stop-timeout': { type: 'string' },
  engine: { type: 'string' },
  encoding: { type: 'string' },
  types: { type: 'string' },
  'batch-size': { type: 'string' },
  concurrency: { type: 'string', short: 'j' },
  workers: { type: 'string' },
  'max-failures': { type: 'string' },
  'failures-out': { type: 'string' },
  'dry-run': { type: 'boolean' },
  resume: { type: 'boolean' },
  restart: { type: 'boolean' },
  json: { type: 'boolean' },
  'log-level': { type: 'string' },
  'max-rows': { type: 'string' },
  'max-bytes': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

/** Parses `argv` (without `node` and the script). Throws {@link UsageError}. */
export function parseCommand(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): Command {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, '.'));
  }
  const { values: v, positionals } = parsed;
  if (v.version) return { kind: 'version' };
  if (v.help || positionals[0] === 'help') return { kind: 'help' };
  // No command at all is a usage error (exit 2), not a request for help.
  if (positionals.length === 0) return { kind: 'usage' };
  const [verb, input, ...extra] = positionals;
  if (verb !== 'import' && verb !== 'preview') throw new UsageError(`Unknown command "${verb}". The commands are: anti-oom import <file | ->, anti-oom preview <file | ->`);
  if (input === undefined) throw new UsageError(`Name the CSV file to ${verb}, or - to read standard input.`);
  if (extra.length > 0) throw new UsageError(`One input at a time; unexpected "${extra.join(' ')}".`);
  if (verb === 'preview') return previewCommand(input, v);
  if (v['max-rows'] !== undefined || v['max-bytes'] !== undefined) throw new UsageError('--max-rows and --max-bytes are options of anti-oom preview.');

  const dryRun = v['dry-run'] ?? false;
  if (!dryRun && !v.db) throw new UsageError('--db is required: the database to import into.');
  if (!dryRun && !v.collection) throw new UsageError('--collection is required: the collection to import into.');
  const mode = (v.mode ?? 'insert') as MongoSinkMode;
  if (!MODES.includes(mode)) throw new UsageError(`--mode must be one of ${MODES.join(', ')}; got "${v.mode}".`);
  const key = v.key === undefined ? undefined : list('--key', v.key);
  if (mode !== 'insert' && key === undefined) throw new UsageError(`--mode ${mode} needs --key: the column(s) that identify a document, such as --key sku.`);
  const restart = v.restart ?? false;
  const resume = (v.resume ?? false) || restart;
  if (resume && dryRun) throw new UsageError('--resume and --restart keep checkpoints in the database; --dry-run writes nothing, so there is nothing to resume.');
  if (v.drop && v.resume && !restart) throw new UsageError('--drop with --resume would delete the rows already imported; use --restart --drop to start over from an empty collection.');
  const workers = count('--workers', v.workers, 1);
  if (workers !== undefined) {
    if (resume) throw new UsageError('--workers cannot be used with --resume or --restart: checkpoints follow one thread. Run resumable imports without --workers.');
    if (dryRun) throw new UsageError('--workers writes through each worker\'s own connection; --dry-run has none. Run the dry run without --workers.');
    if (workers > 1 && mode !== 'insert') {
      throw new UsageError(`--workers ${workers} with --mode ${mode}: rows with the same key must be written in file order (the later row wins), which separate workers cannot promise. Use --workers 1, or --mode insert.`);
    }
  }

  return {
    kind: 'import',
    input,
    uri: v.uri ?? env['MONGODB_URI'] ?? 'mongodb://127.0.0.1:27017',
    db: v.db,
    collection: v.collection,
    mode,
    key,
    delimiter: v.delimiter === undefined ? undefined : (DELIMITER_NAMES[v.delimiter] ?? v.delimiter),
    encoding: v.encoding,
    types: v.types === undefined ? undefined : parseTypes(v.types),
    fields: v.fields === undefined ? undefined : list('--fields', v.fields),
    drop: v.drop ?? false,
    createIndex: v['create-index'] ?? false,
    stopTimeoutSeconds: count('--stop-timeout', v['stop-timeout'], 0) ?? 10,
    engine: engine(v.engine),
    batchSize: count('--batch-size', v['batch-size'], 1),
    concurrency: count('--concurrency', v.concurrency, 1),
    workers,
    maxFailures: count('--max-failures', v['max-failures'], 0),
    failuresOut: v['failures-out'],
    dryRun,
    json: v.json ?? false,
    resume,
    restart,
    logLevel: logLevel(v['log-level']),
  };
}

function previewCommand(input: string, v: { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string }): PreviewCommand {
  return {
    kind: 'preview',
    input,
    delimiter: v.delimiter === undefined ? undefined : (DELIMITER_NAMES[v.delimiter] ?? v.delimiter),
    encoding: v.encoding,
    fields: v.fields === undefined ? undefined : list('--fields', v.fields),
    engine: engine(v.engine),
    maxRows: count('--max-rows', v['max-rows'], 1),
    maxBytes: count('--max-bytes', v['max-bytes'], 1),
    json: v.json ?? false,
  };
}

function logLevel(text: string | undefined): LogLevel | undefined {
  if (text === undefined || (LOG_LEVELS as readonly string[]).includes(text)) return text as LogLevel | undefined;
  throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}; got "${text}".`);
}

function engine(text: string | undefined): 'csv-parse' | 'fast' | undefined {
  if (text === undefined || text === 'csv-parse' || text === 'fast') return text;
  throw new UsageError(`--engine must be csv-parse or fast; got "${text}".`);
}

function list(flag: string, text: string): string[] {
  const items = text.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new UsageError(`${flag} takes comma-separated names, such as ${flag} a,b; got "${text}".`);
  return items;
}

/** `price:number,qty:int` → `{ price: 'number', qty: 'int' }`; `infer` → `'infer'`. */
export function parseTypes(text: string): ColumnTypes | 'infer' {
  if (text.trim() === 'infer') return 'infer';
  const types: ColumnTypes = {};
  for (const item of list('--types', text)) {
    const at = item.lastIndexOf(':');
    const column = item.slice(0, at).trim();
    const type = item.slice(at + 1).trim() as ColumnType;
    if (at <= 0 || !TYPES.includes(type)) {
      throw new UsageError(`--types takes column:type pairs, such as price:number,qty:int, with a type among ${TYPES.join(', ')}; got "${item}".`);
    }
    types[column] = type;
  }
  return types;
}

function count(flag: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  // Digits only: Number() would also take "1e3", "0x10" and "Infinity".
  const n = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  try {
    return numberOption(flag, n, min, { min, integer: true });
  } catch (err) {
    if (isIngestError(err)) throw new UsageError(`${flag} takes a whole number >= ${min}; got "${text}".`);
    throw err;
  }
}

/** The text of `anti-oom --help`. */
export const HELP = `anti-oom import: stream a CSV file into MongoDB with constant memory and an account of every row.

Usage:
  anti-oom import <file | -> --db <name> --collection <name> [options]
  anti-oom preview <file | -> [--max-rows <n>] [--max-bytes <n>] [--delimiter, --encoding, --fields, --engine, --json]
                             reads only the start of the file and shows its charset, delimiter, header,
                             first rows and a type per column (a table on a terminal, JSON otherwise);
                             defaults: --delimiter auto --encoding auto, 1,000 rows, 1 MiB

Input:
  <file>                     a CSV file, or gzip-compressed CSV (detected by its first bytes)
  -                          read standard input
  --delimiter <char>         field delimiter, or "auto" to detect it from the header (default ",";
                             also "tab", "semicolon", "pipe")
  -f, --fields <col,...>     column names, for a file without a header row
  --encoding <label>         "utf8" (default), "auto" (BOM or UTF-8, else windows-1252), or any
                             iconv-lite label such as latin1 or utf16le
  --engine <fast|csv-parse>  the CSV tokenizer: fast (default), or csv-parse (opt-in, several times
                             slower): same records, line numbers and failures
  --types <col:type,...>     convert columns: string, number, int, boolean, date, objectId, json
                             (an empty value becomes null; a value that does not convert fails the row);
                             --types infer chooses them from the first 1,000 rows (see anti-oom preview)

Database:
  --uri <uri>                MongoDB connection string (default: $MONGODB_URI, else mongodb://127.0.0.1:27017)
  -d, --db <name>            database
  -c, --collection <name>    collection
  --mode <insert|upsert|merge>
                             insert (default), replace by key (upsert), or $set the row's fields by key (merge)
  --key <col,...>            the column(s) that identify a document in upsert and merge modes;
                             without a unique index on them every keyed write scans the collection
                             (slow on any server) and concurrent writes can create duplicates, so
                             the import warns
  --create-index             create that unique index when it is missing
  --drop                     drop the collection before importing; its indexes are created again
  --resume                   durable import: keep checkpoints (collection anti_oom_checkpoints of --db,
                             keyed by the file's absolute path and the target), and when run again
                             continue after the last one, writing no row twice (a file, not stdin
                             or gzip; a finished import is not run again: see --restart)
  --restart                  forget the checkpoint of this file and target and start over (with
                             checkpoints, as --resume); rows already imported stay unless --drop
  --batch-size <n>           rows per bulk write (default 1000)
  -j, --concurrency <n>      bulk writes in flight (default 2; per worker with --workers)
  --workers <n>              parse, type and write on n worker threads, each with its own
                             connection; this thread only reads and cuts the file into ranges of
                             whole records. Same report, rows and line numbers as without it;
                             --mode insert only above 1, not with --resume, --types infer or
                             --dry-run (see docs/workers.md)

Failures and output:
  --max-failures <n>         stop once more than n rows have failed (default: never stop). Rows are
                             checked before their batch is written, so the stop also drops the
                             good rows of unwritten batches: with 0, the first bad row ends the
                             import and the good rows of its batch (up to --batch-size, 1000) are
                             not written
  --failures-out <file>      write every failed row (line, code, message, its values) as CSV;
                             cells starting with = + - @ are escaped against formula injection
  --dry-run                  parse, type and validate every row; write nothing, contact no database
  --stop-timeout <seconds>   after Ctrl-C or SIGTERM, how long to wait for the database to acknowledge
                             the batches in flight before closing the connection (default 10); their
                             rows are then reported as unconfirmed. A second signal quits at once
  --json                     NDJSON progress events and the final report on stdout (the default when
                             stdout is not a terminal)
  --log-level <level>        JSON log lines (pino) on stderr at this level: fatal, error, warn, info,
                             debug, trace; each carries the import's id, errors as objects
  -h, --help                 this text
  -v, --version              the version

Exit codes:
  0  every row was written (blank lines are skipped, not failed)
  1  the import finished, but some rows failed (the report lists them)
  2  the import did not finish (also after Ctrl-C or SIGTERM, with the report), or the command
     line is wrong (the error code says why)

Examples:
  anti-oom import products.csv --db shop --collection products --types price:number,qty:int
  gunzip -c big.csv.gz | anti-oom import - --db shop -c products --mode upsert --key sku --json
  anti-oom import products.csv --dry-run --types price:number --failures-out bad-rows.csv
  anti-oom import orders.csv -d shop -c orders --resume     # run it again after a crash to continue
  anti-oom preview products.csv
`;
