import type { IngestReport, IngestSnapshot, RowFailure } from '@anti-oom/core';
import type { NormalizedRouteOptions } from './options.js';
import { forClient } from './present.js';
import type { ImportEntry, ImportEvents } from './registry.js';
import { header, type IngestRequest, type IngestResult } from './request.js';
import { SSE_HEADERS, SseStream } from './sse.js';

/** What a stream reads of an import: an in-process {@link ImportEntry}, or a queued import as this instance sees it. @internal */
export interface Watchable extends Pick<ImportEntry, 'id' | 'state' | 'snapshot' | 'report' | 'doneEventId' | 'failures' | 'failuresDropped' | 'watchers' | 'nextEventId'> {
  on<K extends keyof ImportEvents>(event: K, listener: (...args: ImportEvents[K]) => void): unknown;
  off<K extends keyof ImportEvents>(event: K, listener: (...args: ImportEvents[K]) => void): unknown;
}

/** `Last-Event-ID`, or `?lastEventId=` for clients that cannot set headers. */
export function lastSeen(req: IngestRequest<unknown>): number {
  const value = Number(header(req, 'last-event-id') ?? req.query.get('lastEventId') ?? 0);
  return Number.isSafeInteger(value) && value > 0 ? value : 0;
}

/**
 * An SSE stream of one import: first what the watcher missed (the failures after its
 * `Last-Event-ID`, then the current counters or the report), then the live events. A watcher that
 * already saw `done` gets 204, which tells an `EventSource` to stop reconnecting.
 * `onEnd` runs once when the stream ends, however it ends.
 * @internal
 */
export function watch<Req>(req: IngestRequest<Req>, entry: Watchable, o: NormalizedRouteOptions<Req>, onEnd: (stream: SseStream) => void): IngestResult {
  const seen = lastSeen(req as IngestRequest<unknown>);
  if (entry.doneEventId !== undefined && seen >= entry.doneEventId) return { kind: 'empty', status: 204, headers: { 'Cache-Control': 'no-store' } };
  const stream = new SseStream({ progressIntervalMs: o.progressIntervalMs, heartbeatMs: o.heartbeatMs, nextEventId: () => entry.nextEventId() });
  const done = (report: IngestReport, id: number): void => {
    const data: Record<string, unknown> = { ...forClient(report, o) };
    // Failures past the cap were counted, not kept: the last event says how many the watcher missed.
    if (entry.failuresDropped > 0) data.failureEventsDropped = entry.failuresDropped;
    stream.done(data, id);
  };
  const onProgress = (snapshot: IngestSnapshot): void => stream.progress(forClient(snapshot, o));
  const onFailure = (failure: RowFailure, id: number): void => stream.rowFailure(failure, id);
  let ended = false;
  const end = (): void => {
    if (ended) return;
    ended = true;
    entry.watchers--;
    entry.off('progress', onProgress);
    entry.off('rowFailure', onFailure);
    entry.off('done', done);
    onEnd(stream);
  };
  entry.watchers++;
  stream.once('close', end);
  stream.once('end', end);
  for (const f of entry.failures) if (f.eventId > seen) stream.rowFailure(f.failure, f.eventId);
  if (entry.report && entry.doneEventId !== undefined) {
    done(entry.report, entry.doneEventId);
  } else {
    stream.progress(entry.snapshot ? forClient(entry.snapshot, o) : { id: entry.id, state: entry.state });
    entry.on('progress', onProgress);
    entry.on('rowFailure', onFailure);
    entry.on('done', done);
  }
  return { kind: 'sse', status: 200, headers: { ...SSE_HEADERS }, stream };
}
