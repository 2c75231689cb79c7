import { describe, expect, it } from 'vitest';
import { thrownBy } from '@switchyard/testing';
import { ConfigError, ManualClock } from '@switchyard/core';
import { Lease, MemoryRegistryStore, type FeedEvent } from '../src/index.js';

const configError = (fn: () => unknown): ConfigError => thrownBy(fn, ConfigError);

describe('Lease (memory store, manual clock)', () => {
  const setup = async () => {
    const clock = new ManualClock();
    const store = new MemoryRegistryStore({ clock }, { sweepIntervalMs: 50 });
    await store.start();
    const lease = new Lease(
      { store, clock },
      { record: { id: 's1', service: 'sched', address: '127.0.0.1:9000', ttlMs: 900 } },
    );
    const seen: string[] = [];
    lease.on((e) => seen.push(e.type));
    return { clock, store, lease, seen };
  };

  it('puts at start, renews every ttl/3 so the record never expires, removes at stop', async () => {
    const { clock, store, lease, seen } = await setup();
    const events: FeedEvent[] = [];
    const w = store.watch('sched');
    const reading = (async () => {
      for await (const e of w) events.push(e);
    })();
    await lease.start();
    expect(lease.record).toMatchObject({ id: 's1', revision: 1 });
    for (let i = 0; i < 10; i++) await clock.advanceAsync(300);
    expect(seen.filter((t) => t === 'renewed')).toHaveLength(10);
    expect(await store.get('sched', 's1')).toBeDefined();
    await lease.stop();
    expect(await store.get('sched', 's1')).toBeUndefined();
    w.close();
    await reading;
    expect(events.map((e) => e.type)).toEqual(['snapshot', 'added', 'removed']);
  });

  it('update publishes at once; a lost lease is re-put and reported', async () => {
    const { clock, store, lease, seen } = await setup();
    await lease.start();
    const r = await lease.update({ load: 4 });
    expect(r.load).toBe(4);
    expect((await store.get('sched', 's1'))!.load).toBe(4);
    // someone else removed it (or it expired while this process stalled): the next heartbeat re-registers
    await store.remove('sched', 's1');
    await clock.advanceAsync(300);
    expect(seen).toEqual(['registered', 'lost', 'registered']);
    expect((await store.get('sched', 's1'))!.load).toBe(4); // the patch survives the re-put
    await lease.stop();
  });

  it("a lapsed lease re-registers with the record's last state: an operator's drain survives, a probe's down does not", async () => {
    const { clock, store, lease, seen } = await setup();
    await lease.start();
    // an operator drains the server on the record itself (the scheduler's POST /v1/servers/:id/drain does this)
    await store.update('sched', 's1', { state: 'draining' });
    await clock.advanceAsync(300); // a heartbeat: the renewed record tells the lease its state
    expect(lease.record?.state).toBe('draining');
    await store.remove('sched', 's1'); // the lease lapses (expiry while the process stalled)
    await clock.advanceAsync(300);
    expect(seen).toEqual(['registered', 'renewed', 'lost', 'registered']);
    expect((await store.get('sched', 's1'))!.state).toBe('draining');
    // undrained, then lapsed again: back as serving
    await store.update('sched', 's1', { state: 'serving' });
    await clock.advanceAsync(300);
    await store.remove('sched', 's1');
    await clock.advanceAsync(300);
    expect((await store.get('sched', 's1'))!.state).toBe('serving');
    // marked down by a scheduler's probes, then lapsed: re-registers from its input (serving), not as down
    await store.update('sched', 's1', { state: 'down' });
    await clock.advanceAsync(300);
    expect(lease.record?.state).toBe('down');
    await store.remove('sched', 's1');
    await clock.advanceAsync(300);
    expect((await store.get('sched', 's1'))!.state).toBe('serving');
    await lease.stop();
  });

  it('rejects a renew interval that cannot keep the record alive', async () => {
    const clock = new ManualClock();
    const store = new MemoryRegistryStore({ clock });
    expect(
      () =>
        new Lease(
          { store, clock },
          { record: { id: 'a', service: 's', address: 'x', ttlMs: 100 }, renewEveryMs: 100 },
        ),
    ).toThrow(/renewEveryMs/);
  });

  it('throws a ConfigError naming record.ttlMs or renewEveryMs for a bad value', () => {
    const clock = new ManualClock();
    const store = new MemoryRegistryStore({ clock });
    const record = { id: 'a', service: 's', address: 'x', ttlMs: 900 };
    const field = (init: { record: { ttlMs: unknown }; renewEveryMs?: unknown }) =>
      configError(() => new Lease({ store, clock }, init as ConstructorParameters<typeof Lease>[1])).field;
    expect(field({ record: { ...record, ttlMs: 0 } })).toBe('record.ttlMs');
    expect(field({ record: { ...record, ttlMs: Number.NaN } })).toBe('record.ttlMs');
    expect(field({ record: { ...record, ttlMs: '900' } })).toBe('record.ttlMs');
    expect(field({ record, renewEveryMs: -5 })).toBe('renewEveryMs');
    expect(field({ record, renewEveryMs: 900 })).toBe('renewEveryMs');
    expect(field({ record: { ...record, ttlMs: 1 } })).toBe('renewEveryMs'); // ttl/3 rounds to 1 = ttl
    expect(() => new Lease({ store, clock }, { record, renewEveryMs: 899 })).not.toThrow();
  });
});
