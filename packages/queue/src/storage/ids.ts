import { IngestError, IngestErrorCode } from '@anti-oom/core';

/**
 * Upload ids end up in URLs, object keys and database queries: letters, digits, `-` and `_` only
 * (a UUID fits), so no id can be a path (`../x`), a query operator or an object.
 */
const ID = /^[A-Za-z0-9_-]{1,128}$/;

/** Whether `id` may name an upload. @internal */
export function isUploadId(id: unknown): id is string {
  return typeof id === 'string' && ID.test(id);
}

/** Throws `E_BAD_REQUEST` unless `id` may name an upload. @internal */
export function assertUploadId(id: unknown): asserts id is string {
  if (!isUploadId(id)) throw new IngestError(IngestErrorCode.E_BAD_REQUEST, 'An upload id is 1 to 128 letters, digits, "-" or "_".');
}

/** The error for an upload that does not exist (never created, completed and deleted, or expired). @internal */
export function uploadNotFound(): IngestError {
  return new IngestError(IngestErrorCode.E_NOT_FOUND, 'No such upload: it was never created, or it has been deleted.');
}

/** The error for an append at the wrong offset or onto a completed upload. @internal */
export function offsetConflict(expected: number | undefined, got: number): IngestError {
  return expected === undefined
    ? new IngestError(IngestErrorCode.E_CONFLICT, 'The upload is complete or another request is writing to it; ask for its offset (HEAD) and continue from there.', { offset: got })
    : new IngestError(IngestErrorCode.E_CONFLICT, `The upload continues at byte ${expected}, not ${got}; ask for its offset (HEAD) and continue from there.`, { offset: expected });
}
