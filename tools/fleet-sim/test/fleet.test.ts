import { describe, expect, it } from 'vitest';
import { ManualClock } from '@switchyard/core';
import { MemoryRegistryStore } from '@switchyard/registry';
import { ServerAgentTestProfile } from '@switchyard/server-agent';
import { FleetSim } from '../src/index.js';

describe('FleetSim', () => {
  it('starts real agents (registry records, probe endpoints) and makes their load follow the assignments', async () => {
    const clock = new ManualClock();
    const store = new MemoryRegistryStore({ clock });
    await store.start();
    const fleet = new FleetSim(
      { store, clock },
      { count: 4, regions: ['eu', 'us'], capacity: 50, loadEveryMs: 100, agent: ServerAgentTestProfile },
    );
    await fleet.start();
    const recs = await store.list('conference-server');
    expect(recs.map((r) => [r.id, r.region, r.capacity])).toEqual([
      ['srv-0', 'eu', 50],
      ['srv-1', 'us', 50],
      ['srv-2', 'eu', 50],
      ['srv-3', 'us', 50],
    ]);
    for (const r of recs) expect((await fetch(r.meta['probe']!)).status).toBe(200);
    // two conferences assigned to srv-1 (as a scheduler publishes them), one to srv-3
    for (const [id, server, n] of [
      ['a', 'srv-1', 3],
      ['b', 'srv-1', 4],
      ['c', 'srv-3', 5],
    ] as const)
      await store.put({
        id,
        service: 'conference',
        address: 'x',
        load: n,
        ttlMs: 60_000,
        meta: { serverId: server, epoch: '1' },
      });
    await clock.advanceAsync(100);
    await clock.advanceAsync(100);
    const loads = Object.fromEntries((await store.list('conference-server')).map((r) => [r.id, r.load]));
    expect(loads).toEqual({ 'srv-0': 0, 'srv-1': 7, 'srv-2': 0, 'srv-3': 5 });
    await store.remove('conference', 'b');
    await clock.advanceAsync(100);
    await clock.advanceAsync(100);
    expect((await store.get('conference-server', 'srv-1'))?.load).toBe(3);
    await fleet.stop();
    expect(await store.list('conference-server')).toEqual([]);
    await store.stop();
  });
});
