/**
 * A tick that finds the previous round still running is not lost: the round it stands for runs as soon as that one
 * ends, not an interval later (the tail of the steady-rate latency). Rounds run on the scheduler's own timers, on a
 * ManualClock; the first round is held in its report step by a gate on the store.
 */
import { describe, expect, it } from 'vitest';
import { flushEventLoop, ManualClock } from '@switchyard/core';
import { MemoryRegistryStore } from '@switchyard/registry';
import { Scheduler } from '../src/scheduler.js';
import { SchedulerTestProfile } from '../src/settings.js';
import { MemoryScheduleStore } from '../src/store/memory-schedule-store.js';

const INTERVAL = SchedulerTestProfile.roundIntervalMs;

async function setup() {
  // start just after a round boundary, so the first tick is one interval away
  const clock = new ManualClock(1_700_000_000_000 + 1);
  const registry = new MemoryRegistryStore({ clock });
  await registry.start();
  const store = new MemoryScheduleStore();
  let release: (() => void) | undefined;
  let held = 0;
  const recordShare = store.recordShare.bind(store);
  store.recordShare = async (...args: Parameters<typeof store.recordShare>) => {
    if (held++ === 0) await new Promise<void>((r) => (release = r));
    return recordShare(...args);
  };
  const s = new Scheduler(
    { store, registry, clock, probe: async () => true },
    { ...SchedulerTestProfile, id: 'a', address: 'x', timers: true },
  );
  await s.start();
  await registry.put({
    id: 'srv',
    service: 'conference-server',
    address: 'srv:5060',
    capacity: 10,
    ttlMs: 3_600_000,
  });
  await flushEventLoop();
  return { clock, registry, store, s, release: () => release?.(), isHeld: () => release !== undefined };
}

const metric = async (s: Scheduler, name: 'overruns' | 'catchUps') =>
  (await s.metrics[name].get()).values[0]?.value ?? 0;

describe('Scheduler catch-up round', () => {
  it('runs the overrun tick’s round when the slow round ends, without waiting for the next tick', async () => {
    const { clock, registry, store, s, release, isHeld } = await setup();
    try {
      await clock.advanceAsync(INTERVAL); // first tick: the round runs and stops in its report step
      for (let i = 0; i < 1000 && !isHeld(); i++) await flushEventLoop();
      expect(isHeld()).toBe(true);
      await store.create({
        id: 'c',
        region: 'default',
        expectedParticipants: 2,
        startAt: clock.now() + INTERVAL,
        durationS: 60,
        createdAt: clock.now(),
      });
      await clock.advanceAsync(INTERVAL); // second tick: the first round still runs
      expect(await metric(s, 'overruns')).toBe(1);
      expect((await store.get('c'))?.state).toBe('pending');
      release();
      // no clock movement from here: only a catch-up round can place c
      for (let i = 0; i < 1000 && (await store.get('c'))?.state !== 'placed'; i++) await flushEventLoop();
      expect((await store.get('c'))?.assignment?.serverId).toBe('srv');
      expect(await metric(s, 'catchUps')).toBe(1);
    } finally {
      await s.stop();
      await registry.stop();
    }
  });

  it('runs one catch-up however many ticks the slow round overran', async () => {
    const { clock, registry, s, release, isHeld } = await setup();
    try {
      await clock.advanceAsync(INTERVAL);
      for (let i = 0; i < 1000 && !isHeld(); i++) await flushEventLoop();
      await clock.advanceAsync(INTERVAL);
      await clock.advanceAsync(INTERVAL);
      expect(await metric(s, 'overruns')).toBe(2);
      release();
      for (let i = 0; i < 1000 && (await metric(s, 'catchUps')) === 0; i++) await flushEventLoop();
      for (let i = 0; i < 50; i++) await flushEventLoop();
      expect(await metric(s, 'catchUps')).toBe(1);
      expect((await s.metrics.rounds.get()).values[0]?.value).toBe(2);
    } finally {
      await s.stop();
      await registry.stop();
    }
  });

  it('puts the share in its registry record when it changes, not every idle round', async () => {
    const { clock, registry, store, s, release, isHeld } = await setup();
    try {
      await clock.advanceAsync(INTERVAL);
      for (let i = 0; i < 1000 && !isHeld(); i++) await flushEventLoop();
      release();
      const record = async () => (await registry.list('scheduler')).find((r) => r.id === 'a')!;
      for (let i = 0; i < 1000 && (await record()).meta.share !== '0'; i++) await flushEventLoop();
      const idle = await record();
      expect(idle.meta.share).toBe('0');
      // more idle rounds (well within a lease TTL): the record is not rewritten
      for (let k = 0; k < 3; k++) {
        await clock.advanceAsync(INTERVAL);
        for (let i = 0; i < 20; i++) await flushEventLoop();
      }
      expect((await record()).meta.round).toBe(idle.meta.round);
      // a round with work: the new share is published
      await store.create({
        id: 'c',
        region: 'default',
        expectedParticipants: 2,
        startAt: clock.now(),
        durationS: 60,
        createdAt: clock.now(),
      });
      await clock.advanceAsync(INTERVAL);
      for (let i = 0; i < 1000 && (await record()).meta.share !== '1'; i++) await flushEventLoop();
      expect((await record()).meta.share).toBe('1');
    } finally {
      await s.stop();
      await registry.stop();
    }
  });
  it('publishes the share again at the next round when putting it in the record failed', async () => {
    const { clock, registry, s, release, isHeld } = await setup();
    try {
      // the first share update fails (the store refuses it once)
      const update = registry.update.bind(registry);
      let failed = 0;
      registry.update = async (...args: Parameters<typeof registry.update>) => {
        if (args[2].meta?.['share'] !== undefined && failed++ === 0) throw new Error('refused once');
        return update(...args);
      };
      await clock.advanceAsync(INTERVAL);
      for (let i = 0; i < 1000 && !isHeld(); i++) await flushEventLoop();
      release();
      for (let i = 0; i < 1000 && failed === 0; i++) await flushEventLoop();
      expect(failed).toBe(1);
      const record = async () => (await registry.list('scheduler')).find((r) => r.id === 'a')!;
      expect((await record()).meta.share).toBeUndefined();
      // two rounds later, well within a lease TTL (6 rounds in the test profile): published
      for (let k = 0; k < 2; k++) {
        await clock.advanceAsync(INTERVAL);
        for (let i = 0; i < 50; i++) await flushEventLoop();
      }
      expect((await record()).meta.share).toBe('0');
    } finally {
      await s.stop();
      await registry.stop();
    }
  });
});
