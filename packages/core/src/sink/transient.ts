/** Driver error classes that mean "the server could not be reached or answered too late". */
const TRANSIENT_NAMES = new Set([
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoServerSelectionError',
  'MongoPoolClearedError',
  'MongoServerClosedError',
  'MongoTopologyClosedError',
  'MongoOperationTimeoutError',
]);

/** The driver's own labels for errors a retry can fix. */
const TRANSIENT_LABELS = ['RetryableWriteError', 'ResetPool', 'NetworkError', 'TransientTransactionError', 'SystemOverloadedError'];

/**
 * MongoDB server codes a retry can fix: elections, shutdowns, network trouble between members,
 * and time limits. From the server's error_codes.yml and the retryable-writes specification.
 */
const TRANSIENT_CODES = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  64, // WriteConcernFailed (write concern timeout)
  89, // NetworkTimeout
  91, // ShutdownInProgress
  189, // PrimarySteppedDown
  262, // ExceededTimeLimit
  9001, // SocketException
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
]);

/** Socket errors from Node itself. */
const TRANSIENT_SYSCALL_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/** Messages of network failures, for errors that lost their class on the way (see below). */
const NETWORK_MESSAGE = /connection .* closed|ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|socket|timed out|Server selection|pool .* cleared/i;

/**
 * The driver turns a network failure in the middle of insertMany/bulkWrite into a
 * MongoBulkWriteError with no write errors, copying the network error's fields (such as
 * `beforeHandshake`) and message but not always its labels. Such an error says nothing about any
 * document: the batch as a whole did not get through.
 */
function isWrappedNetworkError(e: { name?: unknown; writeErrors?: unknown; err?: unknown; message?: unknown }): boolean {
  if (e.name !== 'MongoBulkWriteError' || e.err !== undefined) return false;
  const writeErrors = e.writeErrors;
  if (Array.isArray(writeErrors) ? writeErrors.length > 0 : writeErrors !== undefined) return false;
  return 'beforeHandshake' in e || (typeof e.message === 'string' && NETWORK_MESSAGE.test(e.message));
}

/**
 * Whether retrying the same batch may succeed. Decided from names, labels and codes only, so this
 * module needs no driver import and works for errors from any copy of the driver.
 */
export function isTransientError(error: unknown): boolean {
  if (error === null || typeof error !== 'object') return false;
  const e = error as { name?: unknown; code?: unknown; errorLabels?: unknown; hasErrorLabel?: unknown; cause?: unknown };
  if (typeof e.name === 'string' && TRANSIENT_NAMES.has(e.name)) return true;
  if (isWrappedNetworkError(e as Parameters<typeof isWrappedNetworkError>[0])) return true;
  if (typeof e.code === 'number' && TRANSIENT_CODES.has(e.code)) return true;
  if (typeof e.code === 'string' && TRANSIENT_SYSCALL_CODES.has(e.code)) return true;
  if (typeof e.hasErrorLabel === 'function') {
    for (const label of TRANSIENT_LABELS) if ((e.hasErrorLabel as (l: string) => boolean).call(error, label)) return true;
  } else if (Array.isArray(e.errorLabels)) {
    for (const label of TRANSIENT_LABELS) if (e.errorLabels.includes(label)) return true;
  }
  return e.cause !== undefined && e.cause !== error && isTransientError(e.cause);
}
