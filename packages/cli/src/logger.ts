import type { Writable } from 'node:stream';
import type { IngestLogger } from '@anti-oom/core';
import { pino } from 'pino';

/** Levels `--log-level` takes, pino's. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * The CLI's logger for `--log-level`: pino, one JSON object per line on `stream` (stderr), errors
 * serialized as objects (type, message, stack, code). The pipeline logs through a child of it with
 * the import's id bound.
 */
export function createCliLogger(level: LogLevel, stream: Writable): IngestLogger {
  return pino({ level, base: { name: 'anti-oom' } }, stream);
}
