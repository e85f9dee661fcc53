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

  it('forgets pending imports after pendingTimeoutMs and ended ones after keepEndedMs', () => {
    const registry = new ImportRegistry(options);
    const pending = registry.create('a', 0);
    const ended = registry.create('b', 0);
    ended.state = 'done';
    ended.endedAt = 100;
    let told: unknown;
    pending.on('done', (report) => (told = report));
    expect(registry.get(pending.id, 400)).toBe(pending);
    expect(registry.get(pending.id, 600)).toBeUndefined();
    expect(told).toMatchObject({ state: 'aborted', rowsRead: 0 });
    expect(registry.get(ended.id, 1000)).toBe(ended);
    expect(registry.get(ended.id, 1200)).toBeUndefined();
    void registry.close();
  });

  it('is bounded: the oldest ended import makes room, and a registry full of live imports refuses', () => {
    const registry = new ImportRegistry(options);
    const [a, b] = [registry.create(undefined, 0), registry.create(undefined, 0)];
    a.state = 'done';
    a.endedAt = 10;
    b.state = 'done';
    b.endedAt = 20;
    registry.create(undefined, 30);
    registry.create(undefined, 40);
    expect(registry.get(a.id, 50)).toBeUndefined();
    expect(registry.get(b.id, 50)).toBe(b);
    b.state = 'running';
    b.endedAt = undefined;
    expect(() => registry.create(undefined, 60)).toThrow(expect.objectContaining({ code: 'E_TOO_MANY_IMPORTS' }));
    void registry.close();
  });
});
