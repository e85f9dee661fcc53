import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { IngestError, IngestErrorCode, isIngestError, numberOption } from '@anti-oom/core';
import type { UploadMeta, UploadStorage } from '../storage/types.js';
import { formatUploadMetadata, parseUploadMetadata } from './metadata.js';

/** The protocol version this module speaks. */
export const TUS_VERSION = '1.0.0';
/** The extensions it implements. */
export const TUS_EXTENSIONS = 'creation,termination';

/** What a tus request asks for; the guard in front of the handler decides from it. */
export type TusAction = 'options' | 'create' | 'status' | 'upload' | 'terminate';

/**
 * A tus request, whatever the framework. `Ctx` is the caller's own request, passed untouched to
 * the hooks.
 */
export interface TusRequest<Ctx = unknown> {
  method: string;
  /** The upload id from the path (`<base>/<id>`); undefined for the creation endpoint (`<base>`). */
  id?: string | undefined;
  /** Header names in lower case. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The body's bytes; read only by PATCH. */
  body: () => Readable;
  /** Path of the creation endpoint as the client addressed it: `Location` is `<basePath>/<id>`. */
  basePath: string;
  /** Aborts when the client goes away. */
  signal?: AbortSignal | undefined;
  context?: Ctx;
}

/**
 * The answer. Success: a status and headers, no body. Failure: also `error`, an
 * {@link IngestError} (or anything thrown by a hook or the storage) for the caller to render and
 * log; answer with `status`, not the error's own status (a wrong `Tus-Resumable` is 412).
 */
export interface TusResult {
  status: number;
  headers: Record<string, string>;
  error?: unknown;
}

/** Options of {@link createTusHandler}. */
export interface TusHandlerOptions<Ctx = unknown> {
  storage: UploadStorage;
  /**
   * Largest upload accepted, in bytes (`Tus-Max-Size`); a larger `Upload-Length` is refused with 413.
   * @defaultValue `2147483648` (2 GiB, the default `limits.maxFileBytes` of `@anti-oom/http`)
   */
  maxSize?: number;
  /** Id of a new upload. @defaultValue `crypto.randomUUID` */
  newId?: () => string;
  /**
   * Called before a new upload is stored, with its id and metadata. Throw an `IngestError` to
   * refuse it (a quota, a file type): the client gets that error. The place to record the owner.
   */
  onCreate?: (id: string, meta: UploadMeta, context: Ctx | undefined) => void | Promise<void>;
  /**
   * Called once the upload's last byte is stored and the upload is complete: the place to enqueue
   * its import. If it throws, the request that completed the upload fails with that error (logged
   * by the caller) and the upload stays stored, complete; a HEAD of an upload whose bytes are all
   * there but that is not complete yet (its app instance died in between) completes it and calls
   * this again, so it should be idempotent (a BullMQ job id equal to the upload id is).
   */
  onComplete: (id: string, meta: UploadMeta, context: Ctx | undefined) => void | Promise<void>;
}

const OCTET_STREAM = 'application/offset+octet-stream';
const DIGITS = /^\d{1,16}$/;

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Which tus action `method` is, after `X-HTTP-Method-Override`; undefined for a method tus lacks. */
export function tusAction(req: Pick<TusRequest, 'method' | 'id' | 'headers'>): TusAction | undefined {
  const method = effectiveMethod(req);
  if (method === 'OPTIONS') return 'options';
  if (req.id === undefined) return method === 'POST' ? 'create' : undefined;
  if (method === 'HEAD') return 'status';
  if (method === 'PATCH') return 'upload';
  if (method === 'DELETE') return 'terminate';
  return undefined;
}

function effectiveMethod(req: Pick<TusRequest, 'method' | 'headers'>): string {
  const override = first(req.headers['x-http-method-override']);
  return (req.method === 'POST' && override ? override : req.method).toUpperCase();
}

/**
 * The tus 1.0 protocol (core, creation, termination) over an {@link UploadStorage}, as a function
 * from a request to an answer: no framework, no server. Put your checks (who may upload, who owns
 * an upload, same-site) in front of it; it touches storage only for well-formed requests.
 *
 * @example
 * ```ts
 * const tus = createTusHandler({ storage: gridfsStorage(db), onComplete: (id) => queue.add(id) });
 * const result = await tus({ method: req.method, id, headers: req.headers, body: () => req, basePath: '/files' });
 * ```
 */
export function createTusHandler<Ctx = unknown>(options: TusHandlerOptions<Ctx>): (req: TusRequest<Ctx>) => Promise<TusResult> {
  const storage = options.storage;
  const maxSize = numberOption('maxSize', options.maxSize, 2 * 1024 ** 3, { min: 0, integer: true });
  const newId = options.newId ?? randomUUID;
  const base = { 'Tus-Resumable': TUS_VERSION };

  const fail = (status: number, error: unknown, headers: Record<string, string> = {}): TusResult => ({ status, headers: { ...base, ...headers }, error });
  const failWith = (error: unknown): TusResult => fail(isIngestError(error) ? error.statusCode : 500, error);
  const bad = (message: string): TusResult => fail(400, new IngestError(IngestErrorCode.E_BAD_REQUEST, message));

  async function finish(id: string, meta: UploadMeta, context: Ctx | undefined): Promise<void> {
    await storage.complete(id);
    await options.onComplete(id, meta, context);
  }

  async function create(req: TusRequest<Ctx>): Promise<TusResult> {
    if (first(req.headers['upload-defer-length']) !== undefined) return bad('Upload-Defer-Length is not supported; send Upload-Length.');
    const lengthHeader = first(req.headers['upload-length']);
    if (lengthHeader === undefined || !DIGITS.test(lengthHeader)) return bad('Upload-Length must be the size of the file in bytes.');
    const length = Number(lengthHeader);
    if (length > maxSize) {
      return fail(413, new IngestError(IngestErrorCode.E_FILE_TOO_LARGE, `The file is larger than the ${maxSize} bytes allowed.`, { limit: maxSize }), { 'Tus-Max-Size': String(maxSize) });
    }
    const meta: UploadMeta = { length, ...parseUploadMetadata(first(req.headers['upload-metadata'])) };
    const id = newId();
    await options.onCreate?.(id, meta, req.context);
    await storage.create(id, meta);
    return { status: 201, headers: { ...base, Location: `${req.basePath.replace(/\/+$/, '')}/${id}`, 'Upload-Offset': '0' } };
  }

  async function status(id: string, req: TusRequest<Ctx>): Promise<TusResult> {
    const stat = await storage.stat(id);
    if (!stat) return fail(404, new IngestError(IngestErrorCode.E_NOT_FOUND, 'No such upload: it was never created, has expired, or has been deleted.'));
    if (!stat.complete && stat.meta.length !== undefined && stat.offset === stat.meta.length) await finish(id, stat.meta, req.context);
    const headers: Record<string, string> = { ...base, 'Upload-Offset': String(stat.offset), 'Cache-Control': 'no-store' };
    if (stat.meta.length !== undefined) headers['Upload-Length'] = String(stat.meta.length);
    const metadata = formatUploadMetadata(stat.meta);
    if (metadata !== undefined) headers['Upload-Metadata'] = metadata;
    return { status: 200, headers };
  }

  async function upload(id: string, req: TusRequest<Ctx>): Promise<TusResult> {
    const type = first(req.headers['content-type'])?.split(';')[0]?.trim().toLowerCase();
    if (type !== OCTET_STREAM) return fail(415, new IngestError(IngestErrorCode.E_UNSUPPORTED_MEDIA_TYPE, `A PATCH must have Content-Type: ${OCTET_STREAM}.`));
    const offsetHeader = first(req.headers['upload-offset']);
    if (offsetHeader === undefined || !DIGITS.test(offsetHeader)) return bad('Upload-Offset must be the byte offset this PATCH continues from.');
    const offset = Number(offsetHeader);
    const stat = await storage.stat(id);
    if (!stat) return fail(404, new IngestError(IngestErrorCode.E_NOT_FOUND, 'No such upload: it was never created, has expired, or has been deleted.'));
    if (stat.complete || stat.offset !== offset) {
      const conflict = new IngestError(IngestErrorCode.E_CONFLICT, stat.complete ? 'The upload is complete.' : `The upload continues at byte ${stat.offset}, not ${offset}.`, { offset: stat.offset });
      return fail(409, conflict, { 'Upload-Offset': String(stat.offset) });
    }
    const length = stat.meta.length;
    const contentLength = first(req.headers['content-length']);
    if (length !== undefined && contentLength !== undefined && DIGITS.test(contentLength) && offset + Number(contentLength) > length) {
      return fail(413, new IngestError(IngestErrorCode.E_FILE_TOO_LARGE, `This PATCH would take the upload past its ${length} bytes.`, { limit: length }));
    }
    let next: number;
    try {
      next = await storage.append(id, offset, req.body(), req.signal);
    } catch (err) {
      return failWith(err);
    }
    if (length !== undefined && next === length) await finish(id, stat.meta, req.context);
    return { status: 204, headers: { ...base, 'Upload-Offset': String(next) } };
  }

  async function terminate(id: string): Promise<TusResult> {
    const stat = await storage.stat(id);
    if (!stat) return fail(404, new IngestError(IngestErrorCode.E_NOT_FOUND, 'No such upload: it was never created, has expired, or has been deleted.'));
    // A complete upload is being imported: stopping that is the import's cancel, not tus's.
    if (stat.complete) return fail(409, new IngestError(IngestErrorCode.E_CONFLICT, 'The upload is complete and its import has started; cancel the import instead.'));
    await storage.delete(id);
    return { status: 204, headers: { ...base } };
  }

  return async (req) => {
    try {
      const action = tusAction(req);
      if (action === 'options') {
        return { status: 204, headers: { ...base, 'Tus-Version': TUS_VERSION, 'Tus-Extension': TUS_EXTENSIONS, 'Tus-Max-Size': String(maxSize) } };
      }
      if (first(req.headers['tus-resumable']) !== TUS_VERSION) {
        return fail(412, new IngestError(IngestErrorCode.E_BAD_REQUEST, `This server speaks tus ${TUS_VERSION}; send Tus-Resumable: ${TUS_VERSION}.`), { 'Tus-Version': TUS_VERSION });
      }
      if (action === undefined) return fail(405, new IngestError(IngestErrorCode.E_BAD_REQUEST, 'tus uploads are created with POST, continued with PATCH, checked with HEAD and removed with DELETE.'));
      if (action === 'create') return await create(req);
      const id = req.id!;
      if (action === 'status') return await status(id, req);
      if (action === 'upload') return await upload(id, req);
      return await terminate(id);
    } catch (err) {
      return failWith(err);
    }
  };
}
