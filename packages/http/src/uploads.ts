import { Readable } from 'node:stream';
import { createIngestPipeline, IngestError, IngestErrorCode, previewCsv, type CheckpointStore, type CsvPreview, type IngestLogger, type ResumeOptions } from '@anti-oom/core';
import { idleGuard } from './idle.js';
import type { HttpLogger, NormalizedRouteOptions } from './options.js';
import { errorResult, forClient, json } from './present.js';
import type { ImportEntry, ImportRegistry } from './registry.js';
import { header, type IngestRequest, type IngestResult } from './request.js';
import { classifyUpload, openUpload, type UploadKind } from './upload.js';

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new IngestError(IngestErrorCode.E_IDLE_TIMEOUT, `The upload did not reach its file within ${ms} ms; it was stopped.`, { limit: ms })),
      ms,
    );
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * With the `checkpoints` option: the upload's checkpoints under its import id. A body cannot be
 * read from an offset, so it is checkpointed, not resumed; a raw body's `Content-Length` is the
 * CSV's size, which goes into the fingerprint.
 */
function checkpointed<Req>(store: CheckpointStore | undefined, id: string, req: IngestRequest<Req>, kind: UploadKind): ResumeOptions | undefined {
  if (store === undefined) return undefined;
  const length = kind.kind === 'raw' && !kind.gzip ? header(req, 'content-length') : undefined;
  return { store, key: id, stream: 'checkpoint-only', ...(length !== undefined && /^\d{1,15}$/.test(length) ? { streamSize: Number(length) } : {}) };
}

/**
 * Runs uploads: the slots (in all, and per owner), the file, the pipeline, the answer. A slot is
 * taken before the first byte is read and given back when the import ends, so neither a flood of
 * slow uploads from one owner nor a crowd of them can hold every slot.
 * @internal
 */
export class Uploads<Req> {
  /** Imports holding a slot (starting or running), in all and per quota key. */
  #active = 0;
  readonly #perKey = new Map<string, number>();
  closing = false;

  constructor(
    private readonly o: NormalizedRouteOptions<Req>,
    private readonly registry: ImportRegistry,
  ) {}

  #busy(message: string): IngestResult {
    return errorResult(new IngestError(IngestErrorCode.E_TOO_MANY_IMPORTS, message), { logger: this.o.logger, view: this.o, headers: { 'Retry-After': String(this.o.retryAfterSeconds) } });
  }

  /** The 429 for `key` when there is no slot for it, else undefined. */
  #refuse(key: string): IngestResult | undefined {
    const o = this.o;
    if (this.closing) return this.#busy('The server is shutting down.');
    if (this.#active >= o.limits.maxConcurrentImports) return this.#busy(`${o.limits.maxConcurrentImports} imports are running already. Retry in a few seconds.`);
    const mine = this.#perKey.get(key) ?? 0;
    if (mine >= o.limits.maxRunningPerOwner) return this.#busy(`You have ${mine} imports running already; wait for one to end.`);
    return undefined;
  }

  #take(key: string): void {
    this.#active++;
    this.#perKey.set(key, (this.#perKey.get(key) ?? 0) + 1);
  }

  #give(key: string): void {
    this.#active--;
    const left = (this.#perKey.get(key) ?? 1) - 1;
    if (left === 0) this.#perKey.delete(key);
    else this.#perKey.set(key, left);
  }

  /**
   * Uploads into `entry`, or into a new import created for this request (a `POST` with a body).
   * Resolves with the answer: the report, or the error with the partial report.
   */
  async run(req: IngestRequest<Req>, key: string, owner: string | undefined, entry: ImportEntry | undefined): Promise<IngestResult> {
    const o = this.o;
    const refused = this.#refuse(key);
    if (refused) return refused;
    const kind = classifyUpload(req.headers);
    this.#take(key);
    const claimed = entry;
    if (claimed) claimed.claimed = true;
    let target: ImportEntry | undefined = entry;
    const headers: Record<string, string> = {};
    try {
      // A multipart preamble that never reaches the file would hold a slot forever (slow loris).
      const opened = await withDeadline(openUpload(req.body(), req.query, req.headers, kind, o.fileField, o.limits), o.limits.idleTimeoutMs);
      const perRequest = await o.pipeline(req.context, opened.fields);
      target ??= this.registry.create(owner, key);
      if (!entry) headers['X-Import-Id'] = target.id;
      if (target.state !== 'pending') throw new IngestError(IngestErrorCode.E_CONFLICT, 'This import has started already; create a new one.');
      const pipeline = createIngestPipeline({
        ...perRequest,
        // The handler's logger, when it logs at every level (pino does): the pipeline logs through a child with `importId` bound.
        ...(perRequest.logger === undefined && isFullLogger(o.logger) ? { logger: o.logger } : {}),
        csv: { maxRecordBytes: o.limits.maxRecordBytes, maxColumns: o.limits.maxColumns, ...perRequest.csv },
        maxInputBytes: Math.min(perRequest.maxInputBytes ?? Infinity, o.limits.maxDecompressedBytes),
        resume: perRequest.resume ?? checkpointed(o.checkpoints, target.id, req, kind),
        id: target.id,
        signal: req.signal,
      });
      target.start(pipeline);
      const source = Readable.from(idleGuard(opened.file, o.limits.idleTimeoutMs, o.limits.idleMinBytes), { objectMode: false, highWaterMark: 64 * 1024 });
      const report = await pipeline.run(source);
      return json(200, forClient(report, o), headers);
    } catch (err) {
      return errorResult(err, { logger: target ? importLogger(o.logger, target.id) : o.logger, view: o, importId: target?.id, headers });
    } finally {
      this.#give(key);
      // An upload that never started leaves its import waiting, and evictable, again.
      if (claimed && claimed.state === 'pending') claimed.claimed = false;
    }
  }

  /**
   * `POST {prefix}/preview`: reads the start of the body (at most `maxPreviewBytes` once
   * decompressed, then stops reading) with the CSV options the `pipeline` callback gives for this
   * request, and answers with what an import would see. It holds an import slot while it reads, so
   * previews count in the same quotas as imports; it writes nothing.
   */
  async preview(req: IngestRequest<Req>, key: string): Promise<IngestResult> {
    const o = this.o;
    const refused = this.#refuse(key);
    if (refused) return refused;
    const kind = classifyUpload(req.headers);
    this.#take(key);
    try {
      const opened = await withDeadline(openUpload(req.body(), req.query, req.headers, kind, o.fileField, o.limits), o.limits.idleTimeoutMs);
      const perRequest = await o.pipeline(req.context, opened.fields);
      const source = Readable.from(idleGuard(opened.file, o.limits.idleTimeoutMs, o.limits.idleMinBytes), { objectMode: false, highWaterMark: 64 * 1024 });
      const preview = await previewCsv(source, {
        maxBytes: o.limits.maxPreviewBytes,
        maxRows: o.limits.maxPreviewRows,
        csv: { maxRecordBytes: o.limits.maxRecordBytes, maxColumns: o.limits.maxColumns, ...perRequest.csv },
      });
      await opened.released;
      return json(200, previewForClient(preview));
    } catch (err) {
      return errorResult(err, { logger: o.logger, view: o });
    } finally {
      this.#give(key);
    }
  }
}

/** A logger the pipeline can use too (pino, bunyan, ...): one with `debug` and `info` as well. */
function isFullLogger(logger: HttpLogger): logger is HttpLogger & IngestLogger {
  const l = logger as Partial<IngestLogger>;
  return typeof l.info === 'function' && typeof l.debug === 'function';
}

/** The handler's logger for one import: a child with `importId` bound when it has `child`. @internal */
export function importLogger(logger: HttpLogger, importId: string): HttpLogger {
  const child = (logger as { child?: (bindings: Record<string, unknown>) => HttpLogger }).child;
  return typeof child === 'function' ? child.call(logger, { importId }) : logger;
}

/** What a client sees of a preview: what previewCsv found, less any database detail of a failure. */
function previewForClient(preview: CsvPreview): CsvPreview {
  return { ...preview, failures: preview.failures.map(({ detail: _detail, ...failure }) => failure) };
}
