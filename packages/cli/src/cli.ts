import { Readable, type Writable } from 'node:stream';
import { createIngestPipeline, isIngestError, mongoSink, type BatchWriter, type IngestLogger, type IngestReport, type IngestSnapshot, type SeekableSource, type WorkersMongoOptions } from '@anti-oom/core';
import { MongoClient } from 'mongodb';
import { HELP, parseCommand, UsageError, type ImportCommand } from './args.js';
import type { FailuresFile } from './failures-file.js';
import { crashHook } from './crash-hook.js';
import { createUniqueKeyIndex, dropKeepingIndexes, hasUniqueKeyIndex, keySpec, listIndexes } from './indexes.js';
import { openInput, type ImportInput } from './input.js';
import { createCliLogger } from './logger.js';
import { inCliTerms } from './messages.js';
import { runPreview } from './preview.js';
import { NotResumableError, openResumable, resumeKey, resumeOptions, resumingLine } from './resume.js';
import { formatProgressLine, formatReport } from './progress.js';
import { VERSION } from './version.js';

/** What the CLI reads and writes; `process` in the real executable, fakes in tests. */
export interface CliIo {
  stdin: Readable;
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  env: Readonly<Record<string, string | undefined>>;
  /** Aborts the import (the executable wires Ctrl-C to it). */
  signal?: AbortSignal;
}

/** Exit codes of `anti-oom`. */
export const ExitCode = {
  /** Every row was written. */
  OK: 0,
  /** The import finished; some rows failed. */
  ROWS_FAILED: 1,
  /** The import did not finish, or the command line is wrong. */
  FAILED: 2,
} as const;

/** How often the terminal line is redrawn and NDJSON progress is printed. */
const TTY_REDRAW_MS = 100;
const JSON_PROGRESS_MS = 1000;

/**
 * Runs `anti-oom` with `argv` (without `node` and the script) and resolves with the exit code.
 * Never throws for a user's mistake or a failed import; those are messages and exit codes.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let command;
  try {
    command = parseCommand(argv, io.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr.write(`anti-oom: ${err.message}\nRun anti-oom --help for the options.\n`);
    return ExitCode.FAILED;
  }
  if (command.kind === 'help') {
    io.stdout.write(HELP);
    return ExitCode.OK;
  }
  if (command.kind === 'usage') {
    io.stderr.write(`anti-oom: name a command.\n\n${HELP}`);
    return ExitCode.FAILED;
  }
  if (command.kind === 'version') {
    io.stdout.write(`${VERSION}\n`);
    return ExitCode.OK;
  }
  if (command.kind === 'preview') return runPreview(command, io);
  return runImport(command, io);
}

async function runImport(cmd: ImportCommand, io: CliIo): Promise<number> {
  const json = cmd.json || !io.stdout.isTTY;
  const logger = cmd.logLevel === undefined ? undefined : (await createCliLogger(cmd.logLevel, io.stderr)).logger;
  const out = new Output(io, json, logger, cmd.dryRun);

  let input: ImportInput;
  let seekable: SeekableSource | undefined;
  try {
    if (cmd.resume) {
      // A file read from any offset; stdin and gzip are refused here, before anything is read.
      const file = await openResumable(cmd.input);
      seekable = file.source;
      input = { source: Readable.from([]), size: file.size, bytesRead: () => 0, gzip: false, close: async () => {} };
    } else input = await openInput(cmd.input, io.stdin);
  } catch (err) {
    if (err instanceof NotResumableError) return out.fatal(err.code, err.message);
    return out.fatal('E_INPUT', `Cannot read ${cmd.input}: ${(err as Error).message}`, err);
  }
  let failures: FailuresFile | undefined;
  let client: MongoClient | undefined;
  try {
    try {
      // Loaded only when asked for, with csv-stringify: start-up time most runs need not pay.
      if (cmd.failuresOut !== undefined) failures = new (await import('./failures-file.js')).FailuresFile(cmd.failuresOut);
    } catch (err) {
      return out.fatal('E_FAILURES_OUT', `Cannot write the failures file ${cmd.failuresOut}: ${(err as Error).message}`);
    }
    let sink: BatchWriter;
    if (cmd.dryRun) {
      sink = dryRunWriter;
    } else {
      try {
        // A URI's own serverSelectionTimeoutMS wins; otherwise an unreachable server fails in 10 s, not 30.
        const timeout = /[?&]serverSelectionTimeoutMS=/i.test(cmd.uri) ? {} : { serverSelectionTimeoutMS: 10_000 };
        client = new MongoClient(cmd.uri, { ...timeout, appName: 'anti-oom-cli' });
      } catch (err) {
        return out.fatal('E_URI', `${(err as Error).message}. Pass a connection string such as --uri mongodb://127.0.0.1:27017.`);
      }
      sink = mongoSink(client.db(cmd.db).collection(cmd.collection!), { mode: cmd.mode, ...(cmd.key ? { key: cmd.key } : {}) });
    }
    const crash = crashHook(io.env);
    if (crash) sink = crash.wrap(sink);

    let pipeline;
    try {
      // With --workers each worker opens its own connection with the same settings and writes
      // through its own mongoSink; this process's client only prepares the collection.
      const target = cmd.workers === undefined ? { sink } : { workers: { count: cmd.workers, mongo: workersMongo(cmd) } };
      pipeline = createIngestPipeline({
        ...target,
        csv: {
          ...(cmd.delimiter ? { delimiter: cmd.delimiter } : {}),
          ...(cmd.encoding ? { encoding: cmd.encoding } : {}),
          ...(cmd.fields ? { columns: cmd.fields } : {}),
          ...(cmd.engine ? { engine: cmd.engine } : {}),
        },
        types: cmd.types,
        batch: cmd.batchSize === undefined ? undefined : { size: cmd.batchSize },
        concurrency: cmd.concurrency,
        maxFailures: cmd.maxFailures,
        signal: io.signal,
        ...(cmd.resume && client ? { resume: resumeOptions(client.db(cmd.db), resumeKey(cmd.input, cmd.db!, cmd.collection!), cmd.restart, io.env) } : {}),
        ...(logger ? { logger } : {}),
      });
    } catch (err) {
      if (isIngestError(err)) return out.fatal(err.code, inCliTerms(err.message), err);
      throw err;
    }
    if (failures) {
      const file = failures;
      pipeline.on('header', (columns) => file.setColumns(columns));
      pipeline.on('rowFailure', (failure, values) => file.add(failure, values));
    }
    pipeline.on('progress', (s) => out.progress(s, input));
    pipeline.on('resume', (at) => out.resuming(cmd.input, at));
    crash?.watch(pipeline);
    if (client) {
      const collection = client.db(cmd.db).collection(cmd.collection!);
      const where = `${cmd.db}.${cmd.collection}`;
      try {
        if (cmd.drop) {
          const kept = await dropKeepingIndexes(collection);
          out.note(`dropped ${where}${kept.length ? `; its indexes were created again: ${kept.join(', ')}` : ''}`);
        }
        if (cmd.key && cmd.mode !== 'insert' && !hasUniqueKeyIndex(await listIndexes(collection), cmd.key)) {
          if (cmd.createIndex) {
            out.note(`created the unique index ${await createUniqueKeyIndex(collection, cmd.key)} on ${where}`);
          } else {
            out.note(
              `warning: ${where} has no unique index on ${cmd.key.join(', ')}. Each ${cmd.mode} by key then scans the collection (slow on any ` +
                `server), and concurrent writes can create duplicates. Add --create-index to create it, or run ` +
                `db.getSiblingDB(${JSON.stringify(cmd.db)}).getCollection(${JSON.stringify(cmd.collection)}).createIndex(${JSON.stringify(keySpec(cmd.key))}, { unique: true })`,
            );
          }
        }
      } catch (err) {
        const e = err as Error & { code?: number };
        // MongoDB says 11000; FerretDB passes on its backend's words: SQLite's UNIQUE constraint, PostgreSQL's 23505.
        const hint = e.code === 11000 || /duplicate key|UNIQUE constraint|could not create unique index|SQLSTATE 23505/i.test(e.message) ? ': the collection already holds duplicates of the key; remove them, or import into a new collection' : '';
        return out.fatal('E_SINK', `Preparing ${where} failed: ${e.message}${hint}`);
      }
    }

    // After a stop signal the import settles what is in flight; a database that does not
    // acknowledge within --stop-timeout gets its connection closed, so the stop is bounded and
    // the report (those rows as unconfirmed) still comes.
    let forceClose: NodeJS.Timeout | undefined;
    const onStop = (): void => {
      const s = pipeline.snapshot();
      const pending = s.rowsRead - s.rowsWritten - s.rowsFailed - s.rowsSkipped;
      const waitingFor = client
        ? `waiting at most ${cmd.stopTimeoutSeconds}s for the database to acknowledge the batches in flight`
        : 'finishing the batches being checked';
      io.stderr.write(
        `\nStopping: settling the batches in flight: reading stopped; ${waitingFor} (${pending.toLocaleString('en')} rows read and not yet written; ` +
          'send the signal again, or Ctrl-C, to quit at once).\n',
      );
      if (!client) return;
      const c = client;
      forceClose = setTimeout(() => {
        io.stderr.write(`Stopping: the database did not acknowledge within ${cmd.stopTimeoutSeconds}s; closing the connection. Rows of the batches in flight are reported as unconfirmed (E_UNCONFIRMED): they may or may not be in the collection.\n`);
        void c.close(true).catch(() => {});
      }, cmd.stopTimeoutSeconds * 1000);
    };
    if (io.signal?.aborted) onStop();
    else io.signal?.addEventListener('abort', onStop, { once: true });

    let report: IngestReport;
    let exit: number;
    try {
      report = await pipeline.run(seekable ?? input.source);
      exit = report.rowsFailed > 0 ? ExitCode.ROWS_FAILED : ExitCode.OK;
    } catch (err) {
      if (!isIngestError(err) || err.report === undefined) throw err;
      (logger?.child?.({ importId: pipeline.id }) ?? logger)?.error({ err }, `import failed: ${err.code}`);
      report = err.report;
      if (report.error) report = { ...report, error: { ...report.error, message: inCliTerms(report.error.message) } };
      exit = ExitCode.FAILED;
    } finally {
      clearTimeout(forceClose);
      io.signal?.removeEventListener('abort', onStop);
    }
    failures?.close();
    failures = undefined;
    out.report(report, cmd, exit);
    return exit;
  } finally {
    failures?.close();
    await input.close();
    await client?.close();
  }
}

/** What each worker needs to rebuild the command's mongoSink in its own thread. */
function workersMongo(cmd: ImportCommand): WorkersMongoOptions {
  const timeout = /[?&]serverSelectionTimeoutMS=/i.test(cmd.uri) ? {} : { serverSelectionTimeoutMS: 10_000 };
  return { uri: cmd.uri, db: cmd.db!, collection: cmd.collection!, mode: cmd.mode, ...(cmd.key ? { key: cmd.key } : {}), clientOptions: { ...timeout, appName: 'anti-oom-cli' } };
}

/** With --types infer, what was chosen, so the person can pin it with --types next time. */
function inferredLine(report: IngestReport): string {
  const types = Object.entries(report.inferredTypes ?? {}).filter(([, t]) => t !== 'string');
  return report.inferredTypes === undefined ? '' : `Types inferred: ${types.length === 0 ? 'every column stays a string' : types.map(([c, t]) => `${c}:${t}`).join(',')}\n`;
}

/** Accepts every row without writing: `--dry-run` still parses, types and validates all of them. */
const dryRunWriter: BatchWriter = {
  async write(batch) {
    return { written: batch.items.length, inserted: 0, upserted: 0, matched: 0, modified: 0, failures: [] };
  },
};

/** Progress and the report, as a live terminal line plus text, or as NDJSON. */
class Output {
  #last = 0;
  #drawn = false;

  constructor(
    readonly io: CliIo,
    readonly json: boolean,
    readonly logger?: IngestLogger,
    readonly dryRun = false,
  ) {}

  progress(s: IngestSnapshot, input: ImportInput): void {
    const now = Date.now();
    const every = this.json ? JSON_PROGRESS_MS : TTY_REDRAW_MS;
    if (now - this.#last < every || s.state !== 'running') return;
    this.#last = now;
    // Progress is what is settled (parsed and acknowledged), not what was taken from the file;
    // through gzip only the compressed bytes taken compare with the file's size.
    const at = { bytesDone: input.gzip ? input.bytesRead() : s.bytesAcknowledged, startBytes: this.#startBytes, size: input.size, compressed: input.gzip };
    if (this.json) {
      this.#line({ event: 'progress', ...s, inputBytesRead: input.bytesRead(), inputBytes: at.size ?? null, ...(this.dryRun ? { dryRun: true } : {}) });
    } else if (this.io.stderr.isTTY) {
      // A dry run writes nothing: its "written" rows are the ones that passed every check.
      const line = formatProgressLine(s, at);
      this.io.stderr.write(`\r\x1b[2K${this.dryRun ? line.replace(/\bwritten ([\d,]+)/, 'checked, would write $1') : line}`);
      this.#drawn = true;
    }
  }

  #startBytes = 0;

  resuming(path: string, at: { line: number; offset: number; rowsWritten: number }): void {
    this.#startBytes = at.offset;
    if (this.json) this.#line({ event: 'resume', line: at.line, byte: at.offset, rowsWritten: at.rowsWritten });
    else this.io.stderr.write(resumingLine(path, at));
  }

  report(report: IngestReport, cmd: ImportCommand, exitCode: number): void {
    this.#clear();
    if (this.json) this.#line({ event: 'report', ...report, dryRun: cmd.dryRun, exitCode });
    else this.io.stdout.write(formatReport(report, { dryRun: cmd.dryRun, failuresOut: cmd.failuresOut }) + inferredLine(report));
  }

  /** A line for the person running the import (stderr), outside the progress line and the report. */
  note(text: string): void {
    this.#clear();
    this.io.stderr.write(`anti-oom: ${text}\n`);
  }

  fatal(code: string, message: string, err?: unknown): number {
    this.#clear();
    this.logger?.error({ code, ...(err === undefined ? {} : { err }) }, message);
    if (this.json) this.#line({ event: 'error', code, message, exitCode: ExitCode.FAILED });
    else this.io.stderr.write(`anti-oom: ${code}: ${message}\n`);
    return ExitCode.FAILED;
  }

  #line(event: object): void {
    this.io.stdout.write(`${JSON.stringify(event)}\n`);
  }

  #clear(): void {
    if (this.#drawn) this.io.stderr.write('\r\x1b[2K');
    this.#drawn = false;
  }
}
