import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileSource, mongoCheckpoints, type ResumeOptions, type SeekableSource } from '@anti-oom/core';
import type { Db } from 'mongodb';

/** The collection of the target database where `--resume` keeps its checkpoints. */
export const CHECKPOINTS_COLLECTION = 'anti_oom_checkpoints';

/** An import can be resumed from a file only: these say why not, before anything is read. */
export class NotResumableError extends Error {
  readonly code = 'E_NOT_SEEKABLE';
}

/**
 * The key of a `--resume` import: the file's absolute path and the target namespace, so the same
 * file into another collection is another import.
 */
export function resumeKey(path: string, db: string, collection: string): string {
  return `${resolve(path)} -> ${db}.${collection}`;
}

/**
 * The file as a seekable source with its size. Standard input cannot be read from an offset, and
 * a gzip file cannot be entered mid-stream, so both are refused here with what to do instead.
 */
export async function openResumable(path: string): Promise<{ source: SeekableSource; size: number }> {
  if (path === '-') {
    throw new NotResumableError('--resume needs a file: standard input cannot be read again from where it stopped. Save the data to a file and import that with --resume.');
  }
  const handle = await open(path, 'r'); // ENOENT and EISDIR surface here
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw Object.assign(new Error(`${path} is not a file.`), { code: 'EISDIR' });
    const head = Buffer.alloc(2);
    await handle.read(head, 0, 2, 0);
    if (head[0] === 0x1f && head[1] === 0x8b) {
      throw new NotResumableError(`--resume cannot continue inside gzip data (${path}); decompress it first (gunzip -k ${path}) and import the CSV with --resume.`);
    }
    return { source: { ...fileSource(path), size: stat.size }, size: stat.size };
  } finally {
    await handle.close();
  }
}

/** The `resume` option for `--resume` / `--restart`; the checkpoint interval can be tuned with ANTI_OOM_CHECKPOINT_MS. */
export function resumeOptions(db: Db, key: string, restart: boolean, env: Readonly<Record<string, string | undefined>>): ResumeOptions {
  const ms = Number(env['ANTI_OOM_CHECKPOINT_MS']);
  return {
    store: mongoCheckpoints(db.collection(CHECKPOINTS_COLLECTION)),
    key,
    restart,
    ...(env['ANTI_OOM_CHECKPOINT_MS'] !== undefined && Number.isFinite(ms) && ms >= 0 ? { intervalMs: ms } : {}),
  };
}

const number = new Intl.NumberFormat('en-US');

/** `resuming orders.csv at line 3,118,001 (byte 412,334,080) — 3,118,000 rows already written`. */
export function resumingLine(path: string, at: { line: number; offset: number; rowsWritten: number }): string {
  return `resuming ${path} at line ${number.format(at.line)} (byte ${number.format(at.offset)}) — ${number.format(at.rowsWritten)} rows already written\n`;
}
