import { describe, expect, it } from 'vitest';
import { ImportRegistry } from '../src/registry.js';

const options = { maxImports: 3, keepEndedMs: 1000, pendingTimeoutMs: 500, maxFailureEvents: 10 };

describe('ImportRegistry', () => {
  it('gives unguessable ids', () => {
    const registry = new ImportRegistry(options);
    const ids = new Set(Array.from({ length: 3 }, () => registry.create(undefined).id));
    expect(ids.size).toBe(3);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f-]{36}$/);
    void registry.close();
  });

  it('forgets pending imports after pendingTimeoutMs and ended ones after keepEndedMs; the aborted report comes from the core', () => {
    const registry = new ImportRegistry(options);
    const pending = registry.create('a', 'a', 0);
    const ended = registry.create('b', 'b', 0);
    ended.state = 'done';
    ended.endedAt = 100;
    let told: unknown;
    pending.on('done', (report) => (told = report));
    expect(registry.get(pending.id, 400)).toBe(pending);
    expect(registry.get(pending.id, 600)).toBeUndefined();
    expect(told).toMatchObject({ id: pending.id, state: 'aborted', rowsRead: 0, failures: [], error: { code: 'E_ABORTED' } });
    expect(registry.get(ended.id, 1000)).toBe(ended);
    expect(registry.get(ended.id, 1200)).toBeUndefined();
    void registry.close();
  });

  it('is bounded: the oldest ended import makes room, then the oldest that never received a byte; running and uploading ones are kept', () => {
    const registry = new ImportRegistry(options);
    const [a, b] = [registry.create(undefined, 'k', 0), registry.create(undefined, 'k', 0)];
    a.state = 'done';
    a.endedAt = 10;
    b.state = 'done';
    b.endedAt = 20;
    const c = registry.create(undefined, 'k', 30);
    registry.create(undefined, 'k', 40);
    expect(registry.get(a.id, 50)).toBeUndefined();
    expect(registry.get(b.id, 50)).toBe(b);
    b.state = 'running';
    b.endedAt = undefined;
    let evicted: unknown;
    c.on('done', (report) => (evicted = report));
    registry.create(undefined, 'k', 60);
    expect(registry.get(c.id, 70)).toBeUndefined();
    expect(evicted).toMatchObject({ state: 'aborted', error: { message: expect.stringMatching(/room for newer imports/) } });
    expect(registry.get(b.id, 70)).toBe(b);
    void registry.close();
  });

  it('refuses when every import is running or receiving its upload', () => {
    const registry = new ImportRegistry(options);
    const all = [registry.create(undefined, 'k', 0), registry.create(undefined, 'k', 0), registry.create(undefined, 'k', 0)];
    all[0]!.state = 'running';
    all[1]!.claimed = true;
    all[2]!.claimed = true;
    expect(() => registry.create(undefined, 'k', 60)).toThrow(expect.objectContaining({ code: 'E_TOO_MANY_IMPORTS' }));
    expect(registry.pendingOf('k')).toBe(0);
    void registry.close();
  });
});
