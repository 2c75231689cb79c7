/** Regression: a tick that arrives while a round is finishing (its report step) must not wedge later rounds. */
import { describe, expect, it } from 'vitest';
import { flushEventLoop, ManualClock } from '@switchyard/core';
import { MemoryRegistryStore } from '@switchyard/registry';
import { Scheduler } from '../src/scheduler.js';
import { SchedulerTestProfile } from '../src/settings.js';
import { MemoryScheduleStore } from '../src/store/memory-schedule-store.js';

describe('Scheduler round overrun', () => {
  it('skips a tick during the report step, and the next round still runs and places', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const registry = new MemoryRegistryStore({ clock });
    await registry.start();
    const store = new MemoryScheduleStore();
    const s = new Scheduler(
      { store, registry, clock },
      { ...SchedulerTestProfile, id: 'a', address: 'x', timers: false },
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
    const first = s.runRound();
    // step the first round on until it has reported (machine idle) but is still finishing (share, sweep)
    for (let i = 0; i < 100 && s.lastShare === undefined; i++) await Promise.resolve();
    expect(s.lastShare).toBeDefined();
    const overlapping = s.runRound();
    await Promise.all([first, overlapping]);
    expect((await s.metrics.overruns.get()).values[0]?.value).toBe(1);
    await store.create({
      id: 'c',
      region: 'default',
      expectedParticipants: 2,
      startAt: clock.now(),
      durationS: 60,
      createdAt: clock.now(),
    });
    await clock.advanceAsync(SchedulerTestProfile.roundIntervalMs);
    await s.runRound();
    expect((await store.get('c'))?.assignment?.serverId).toBe('srv');
    await s.stop();
    await registry.stop();
  });
});
