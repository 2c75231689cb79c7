import { describe, expect, it } from 'vitest';
import { ManualClock } from '@switchyard/core';
import {
  MemoryRegistryStore,
  MEMORY_STORE_TEST_PROFILE,
  type FeedEvent,
  type FeedQueue,
} from '../src/index.js';
import { registryCompliance } from './compliance.js';

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
