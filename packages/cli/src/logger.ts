import type { Writable } from 'node:stream';
import type { IngestLogger } from '@anti-oom/core';

/** Levels `--log-level` takes, pino's. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * The CLI's logger for `--log-level`: pino, one JSON object per line on `stream` (stderr), errors
 * serialized as objects (type, message, stack, code). The pipeline logs through a child of it with
 * the import's id bound. pino is loaded here, not with the CLI: most runs have no `--log-level`,
 * and its 30 modules are start-up time every run would pay.
 */
export async function createCliLogger(level: LogLevel, stream: Writable): Promise<{ logger: IngestLogger }> {
  const { pino } = await import('pino');
  // Wrapped: the logger's type allows any method, `then` too, which an async function may not return.
  return { logger: pino({ level, base: { name: 'anti-oom' } }, stream) };
}
