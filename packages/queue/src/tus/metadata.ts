import { IngestError, IngestErrorCode } from '@anti-oom/core';
import type { UploadMeta } from '../storage/types.js';

/** Most pairs and characters an `Upload-Metadata` header may carry: it is stored with the upload. */
const MAX_PAIRS = 32;
const MAX_CHARS = 8 * 1024;
const KEY = /^[\x21-\x2b\x2d-\x7e]+$/; // printable ASCII but space and comma, as tus 1.0 says
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const bad = (message: string): IngestError => new IngestError(IngestErrorCode.E_BAD_REQUEST, message);

/**
 * Parses a tus `Upload-Metadata` header (`key base64value,key2 base64value2,key3`) into
 * {@link UploadMeta}: every pair goes to `extra` (a key without a value as `''`), and `filename`
 * (or Uppy's `name`) also becomes `meta.filename`. Throws `E_BAD_REQUEST` for a malformed header,
 * a duplicate key, a value that is not base64 or not UTF-8, or more than 32 pairs or 8 KiB.
 */
export function parseUploadMetadata(header: string | undefined): Pick<UploadMeta, 'filename' | 'extra'> {
  if (header === undefined || header.trim() === '') return {};
  if (header.length > MAX_CHARS) throw bad(`Upload-Metadata is longer than ${MAX_CHARS} characters.`);
  const pairs = header.split(',');
  if (pairs.length > MAX_PAIRS) throw bad(`Upload-Metadata has more than ${MAX_PAIRS} pairs.`);
  const extra: Record<string, string> = Object.create(null) as Record<string, string>;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (const pair of pairs) {
    const parts = pair.trim().split(' ');
    const [key, value, ...rest] = parts;
    if (!key || !KEY.test(key) || rest.length > 0) throw bad('Upload-Metadata must be comma-separated "key base64value" pairs.');
    if (Object.prototype.hasOwnProperty.call(extra, key)) throw bad(`Upload-Metadata names "${key}" twice.`);
    if (value !== undefined && !BASE64.test(value)) throw bad(`The Upload-Metadata value of "${key}" is not base64.`);
    try {
      extra[key] = value === undefined ? '' : decoder.decode(Buffer.from(value, 'base64'));
    } catch {
      throw bad(`The Upload-Metadata value of "${key}" is not UTF-8 text.`);
    }
  }
  const filename = extra.filename ?? extra.name;
  return { ...(filename !== undefined ? { filename } : {}), extra: { ...extra } };
}

/** The `Upload-Metadata` header for stored metadata (what HEAD answers), or undefined when there is none. */
export function formatUploadMetadata(meta: UploadMeta): string | undefined {
  const pairs = Object.entries(meta.extra ?? {}).map(([k, v]) => (v === '' ? k : `${k} ${Buffer.from(v, 'utf8').toString('base64')}`));
  return pairs.length > 0 ? pairs.join(',') : undefined;
}
