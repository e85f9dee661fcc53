import { Writable } from 'node:stream';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { describe, expect, it, vi } from 'vitest';
import { formatSseEvent } from '../src/index.js';
import { SseStream } from '../src/sse.js';

function parse(text: string): EventSourceMessage[] {
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (e) => events.push(e) });
  parser.feed(text);
  return events;
}

function counter(): () => number {
  let id = 0;
  return () => ++id;
}

/** Reads everything the stream pushed so far. */
function drain(stream: SseStream): string {
  let text = '';
  let chunk: Buffer | null;
  while ((chunk = stream.read() as Buffer | null) !== null) text += chunk.toString();
  return text;
}

describe('formatSseEvent', () => {
  it('keeps a hostile message inside its event', () => {
    const failure = { line: 7, code: 'E_TYPE', message: 'bad\n\ndata: {"forged":true}\n\nevent: done\r\n' };
    const events = parse(formatSseEvent('rowFailure', failure, 3) + formatSseEvent('progress', { ok: 1 }, 4));
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({ event: 'rowFailure', id: '3' });
    expect(JSON.parse(events[0]!.data)).toEqual(failure);
    expect(events[1]!.event).toBe('progress');
  });
});

describe('SseStream', () => {
  it('stops pushing while the consumer is slow, coalesces progress, and still delivers failures and done, in id order', async () => {
    const next = counter();
    const stream = new SseStream({ progressIntervalMs: 0, heartbeatMs: 60_000, nextEventId: next });
    const written: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = new Writable({
      highWaterMark: 1,
      write(chunk, _enc, callback) {
        written.push(String(chunk));
        void gate.then(() => callback());
      },
    });
    stream.pipe(slow);
    // Large snapshots, so the stream's buffer fills after a few.
    for (let n = 1; n <= 50; n++) stream.progress({ n, pad: 'x'.repeat(4000) });
    stream.rowFailure({ line: 9 }, next());
    stream.done({ n: 'final' }, next());
    release();
    await new Promise((r) => slow.on('finish', r));
    const events = parse(written.join(''));
    expect(events.length).toBeLessThan(20);
    expect(events.map((e) => e.event).slice(-2)).toEqual(['rowFailure', 'done']);
    const ids = events.map((e) => Number(e.id));
    for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1]!);
    expect(JSON.parse(events.at(-1)!.data)).toEqual({ n: 'final' });
  });

  it('a throttled progress event gets its id when it is written, after a failure sent meanwhile (finding 6)', () => {
    vi.useFakeTimers();
    try {
      const next = counter();
      const stream = new SseStream({ progressIntervalMs: 250, heartbeatMs: 60_000, nextEventId: next });
      stream.progress({ n: 1 }); // sent at once
      stream.progress({ n: 2 }); // throttled
      stream.rowFailure({ line: 5 }, next()); // sent at once
      vi.advanceTimersByTime(300);
      const events = parse(drain(stream));
      expect(events.map((e) => e.event)).toEqual(['progress', 'rowFailure', 'progress']);
      const ids = events.map((e) => Number(e.id));
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
      expect(new Set(ids).size).toBe(3);
      stream.destroy();
    } finally {
      vi.useRealTimers();
    }
  });

  it('sends at most one progress event per interval, the latest one', () => {
    vi.useFakeTimers();
    try {
      const stream = new SseStream({ progressIntervalMs: 250, heartbeatMs: 60_000, nextEventId: counter() });
      let text = '';
      for (let n = 1; n <= 100; n++) {
        stream.progress({ n });
        vi.advanceTimersByTime(10); // 100 snapshots over one second
        text += drain(stream);
      }
      vi.advanceTimersByTime(300);
      text += drain(stream);
      const progress = parse(text).filter((e) => e.event === 'progress');
      expect(progress.length).toBeLessThanOrEqual(6);
      expect(JSON.parse(progress.at(-1)!.data)).toEqual({ n: 100 });
      stream.destroy();
    } finally {
      vi.useRealTimers();
    }
  });

  it('sends heartbeat comments, and clears its timers when destroyed', () => {
    vi.useFakeTimers();
    try {
      const stream = new SseStream({ progressIntervalMs: 100, heartbeatMs: 1000, nextEventId: counter() });
      let text = drain(stream);
      for (let i = 0; i < 3; i++) {
        vi.advanceTimersByTime(1000);
        text += drain(stream);
      }
      expect(text.match(/: heartbeat/g)?.length).toBe(3);
      stream.destroy();
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
