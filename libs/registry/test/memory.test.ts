import { describe, expect, it } from 'vitest';
import { thrownBy } from '@switchyard/testing';
import { ConfigError, ManualClock } from '@switchyard/core';
import {
  MemoryRegistryStore,
  MEMORY_STORE_DEFAULTS,
  MEMORY_STORE_TEST_PROFILE,
  type FeedEvent,
  type FeedQueue,
} from '../src/index.js';
import { registryCompliance } from '../src/compliance/index.js';

const configError = (fn: () => unknown): ConfigError => thrownBy(fn, ConfigError);

// one in-process store is the backend; every "client" is that store (there is no server to restart)
registryCompliance('memory', async () => {
  const clock = new ManualClock();
  const store = new MemoryRegistryStore({ clock }, MEMORY_STORE_TEST_PROFILE);
  await store.start();
  return {
    clock,
    client: async () => store,
    sweepMs: MEMORY_STORE_TEST_PROFILE.sweepIntervalMs,
    close: () => store.stop(),
  };
});

describe('memory store: a consumer that does not read', () => {
  it('is reset with a fresh snapshot once it is maxQueued events behind, instead of growing without bound', async () => {
    const clock = new ManualClock();
    const store = new MemoryRegistryStore({ clock }, { ...MEMORY_STORE_TEST_PROFILE, maxQueued: 5 });
    await store.start();
    const w = store.watch('s') as FeedQueue;
    for (let i = 0; i < 20; i++) await store.put({ id: `r${i}`, service: 's', address: 'x', ttlMs: 1000 });
    expect(w.length).toBeLessThanOrEqual(5);
    const seen: FeedEvent[] = [];
    for await (const e of w) {
      seen.push(e);
      if (w.length === 0) break;
    }
    const reset = seen.findIndex((e) => e.type === 'reset');
    expect(reset).toBeGreaterThanOrEqual(0);
    expect(seen[reset + 1]).toMatchObject({ type: 'snapshot' });
    // the snapshot and the events after it add up to all 20 records: nothing silently lost
    const after = seen.slice(reset + 1);
    const ids = new Set(
      after.flatMap((e) =>
        e.type === 'snapshot' ? e.records.map((r) => r.id) : 'record' in e ? [e.record.id] : [],
      ),
    );
    expect(ids.size).toBe(20);
    await store.stop();
  });
});

describe('memory store: config', () => {
  it('throws a ConfigError naming the first bad field of init', () => {
    const clock = new ManualClock();
    const field = (init: object) => configError(() => new MemoryRegistryStore({ clock }, init)).field;
    expect(field({ sweepIntervalMs: 0 })).toBe('sweepIntervalMs');
    expect(field({ historyLimit: 1.5 })).toBe('historyLimit');
    expect(field({ maxQueued: '10' })).toBe('maxQueued'); // init is not converted: a string is a mistake
    expect(field({ limits: { maxTtlMs: -1 } })).toBe('limits.maxTtlMs');
    expect(() => new MemoryRegistryStore({ clock }, { limits: { maxTtlMs: 5 } })).not.toThrow();
  });

  it('applies the defaults of MEMORY_STORE_DEFAULTS and the given limits', async () => {
    const clock = new ManualClock();
    const store = new MemoryRegistryStore({ clock }, { limits: { maxTtlMs: 5 } });
    await expect(store.put({ id: 'a', service: 's', address: 'x', ttlMs: 6 })).rejects.toMatchObject({
      code: 'REG_ERR_INVALID_TTL',
    });
    await store.put({ id: 'a', service: 's', address: 'x', ttlMs: 5 });
    await store.start();
    const w = store.watch('s', 1) as FeedQueue;
    clock.advance(MEMORY_STORE_DEFAULTS.sweepIntervalMs - 1);
    expect(await store.list('s')).toEqual([]); // expired at 5 ms, but not yet swept and published
    expect(w.length).toBe(0);
    clock.advance(1);
    expect(w.length).toBe(1); // the sweeper ran at the default interval
    await store.stop();
  });
});
