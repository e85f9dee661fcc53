import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
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

/** A response whose socket buffer is "full" until the test says otherwise. */
class FakeResponse extends EventEmitter {
  written: string[] = [];
  full = false;
  writableEnded = false;
  writeHead() {
    return this;
  }
  write(chunk: string) {
    this.written.push(chunk);
    return !this.full;
  }
  end() {
    this.writableEnded = true;
  }
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
  it('stops writing while the client is slow, coalesces progress, and still delivers failures and done', () => {
    vi.useFakeTimers();
    try {
      const res = new FakeResponse();
      const stream = new SseStream(res as unknown as ServerResponse, { progressIntervalMs: 0, heartbeatMs: 60_000 }, () => {});
      res.full = true;
      stream.progress({ n: 1 }, 1); // written, and the buffer reports full
      const before = res.written.length;
      for (let n = 2; n <= 50; n++) stream.progress({ n }, n);
      stream.rowFailure({ line: 9 }, 51);
      stream.done({ n: 'final' }, 52);
      expect(res.written.length).toBe(before);
      res.full = false;
      res.emit('drain');
      const events = parse(res.written.join(''));
      expect(events.map((e) => e.event)).toEqual(['progress', 'rowFailure', 'done']);
      expect(JSON.parse(events.at(-1)!.data)).toEqual({ n: 'final' });
      expect(res.writableEnded).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('sends at most one progress event per interval, the latest one', () => {
    vi.useFakeTimers();
    try {
      const res = new FakeResponse();
      const stream = new SseStream(res as unknown as ServerResponse, { progressIntervalMs: 250, heartbeatMs: 60_000 }, () => {});
      for (let n = 1; n <= 100; n++) {
        stream.progress({ n }, n);
        vi.advanceTimersByTime(10); // 100 snapshots over one second
      }
      vi.advanceTimersByTime(300);
      const progress = parse(res.written.join('')).filter((e) => e.event === 'progress');
      expect(progress.length).toBeLessThanOrEqual(6);
      expect(JSON.parse(progress.at(-1)!.data)).toEqual({ n: 100 });
      stream.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('sends heartbeat comments, and clears its timers when closed', () => {
    vi.useFakeTimers();
    try {
      const res = new FakeResponse();
      const stream = new SseStream(res as unknown as ServerResponse, { progressIntervalMs: 100, heartbeatMs: 1000 }, () => {});
      vi.advanceTimersByTime(3500);
      expect(res.written.filter((w) => w.startsWith(': heartbeat')).length).toBe(3);
      stream.close();
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
