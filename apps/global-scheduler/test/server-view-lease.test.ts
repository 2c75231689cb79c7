/**
 * The scheduler's server view under real leases (the registry's `Lease`, as every agent holds one): a server that
 * only heartbeats (its load does not change, so nothing is published) stays a candidate for as long as its lease
 * is renewed, and a server whose lease lapsed and was put again is a candidate again. Registry in memory, time on a
 * ManualClock.
 *
 * The first case is the cause of the fleet-sim kill -9 test's intermittent failure (docs/global-scheduler.md): a
 * renewal moves the record's expiresAt in the store but publishes nothing, so the expiresAt the view held was the
 * one of the record's last put or update; once that passed, the view dropped a live server from the candidate
 * list, and a conference retried at a moment when no agent had published recently found `no-servers`.
 */
import { describe, expect, it } from 'vitest';
import { flushEventLoop, ManualClock } from '@switchyard/core';
import { Lease, MemoryRegistryStore } from '@switchyard/registry';
import { Scheduler } from '../src/scheduler.js';
import { SchedulerTestProfile } from '../src/settings.js';
import { MemoryScheduleStore } from '../src/store/memory-schedule-store.js';

const TTL = 1500; // the fleet-sim test's agent lease
const HEARTBEAT = 300; // and its heartbeat

async function setup() {
  const clock = new ManualClock(1_700_000_000_000 + 1);
  const registry = new MemoryRegistryStore({ clock });
  await registry.start();
  const store = new MemoryScheduleStore();
  const s = new Scheduler(
    { store, registry, clock, probe: async () => true },
    { ...SchedulerTestProfile, id: 'a', address: 'x', timers: false },
  );
  await s.start();
  const lease = new Lease(
    { store: registry, clock },
    {
      record: {
        id: 'srv',
        service: 'conference-server',
        address: 'srv:5060',
        capacity: 10,
        ttlMs: TTL,
      },
      renewEveryMs: HEARTBEAT,
    },
  );
  await lease.start();
  await flushEventLoop();
  const stop = async () => {
    await s.stop();
    await lease.stop();
    await registry.stop();
  };
  return { clock, registry, store, s, lease, stop };
}

/** Advances the clock in heartbeat-sized steps, letting every renewal and feed event run. */
async function advance(clock: ManualClock, ms: number, step = HEARTBEAT / 3): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    await clock.advanceAsync(Math.min(step, ms - t));
    await flushEventLoop();
  }
}

describe('server view with leased servers', () => {
  it('a server that only heartbeats stays a candidate long after its last publish', async () => {
    const { clock, registry, store, s, stop } = await setup();
    try {
      expect(s.servers.candidates('default').map((c) => c.id)).toEqual(['srv']);
      // four lease TTLs of heartbeats and nothing else: the record is live in the registry throughout
      await advance(clock, 4 * TTL);
      expect((await registry.get('conference-server', 'srv'))?.state).toBe('serving');
      expect(s.servers.candidates('default').map((c) => c.id)).toEqual(['srv']);
      // and a conference due now is placed on it, not left unplaceable with no-servers
      await store.create({
        id: 'c',
        region: 'default',
        expectedParticipants: 2,
        startAt: clock.now(),
        durationS: 60,
        createdAt: clock.now(),
      });
      await s.runRound();
      const c = await store.get('c');
      expect(c?.state, JSON.stringify(await store.unplaceableByReason())).toBe('placed');
      expect(c?.assignment?.serverId).toBe('srv');
    } finally {
      await stop();
    }
  });

  it('a server whose lease lapsed is dropped, and is a candidate again once the lease puts it back', async () => {
    const { clock, registry, s, lease, stop } = await setup();
    const events: string[] = [];
    lease.on((e) => events.push(e.type));
    try {
      // the agent is starved: its record passes expiresAt, the registry's sweeper publishes it expired
      const record = await registry.get('conference-server', 'srv');
      const renew = registry.renew.bind(registry);
      let starved = true;
      registry.renew = async (...args: Parameters<typeof registry.renew>) => {
        if (starved) throw Object.assign(new Error('starved'), { code: 'TEST_STARVED' });
        return renew(...args);
      };
      await advance(clock, record!.expiresAt - clock.now() + 100);
      expect(await registry.get('conference-server', 'srv')).toBeUndefined();
      expect(s.servers.get('srv')).toBeUndefined();
      expect(s.servers.candidates('default')).toEqual([]);
      // it runs again: the next heartbeat finds the record gone and puts it back
      starved = false;
      await advance(clock, 2 * HEARTBEAT);
      expect(events).toContain('lost');
      expect(s.servers.candidates('default').map((c) => c.id)).toEqual(['srv']);
      // and it stays a candidate on heartbeats alone
      await advance(clock, 3 * TTL);
      expect(s.servers.candidates('default').map((c) => c.id)).toEqual(['srv']);
    } finally {
      await stop();
    }
  });
});
