/**
 * Health as operators expect (issue 12 §3): /healthz follows the store's connection as it changes (no round has to
 * run first), and a server that stops answering is shown down with its last-seen time, then dropped after a grace.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { flushEventLoop, ManualClock } from '@switchyard/core';
import { MemoryRegistryStore } from '@switchyard/registry';
import { startRedis, waitFor, type TestRedis } from '@switchyard/testing';
import { buildApi } from '../src/api/api.js';
import { Scheduler } from '../src/scheduler.js';
import { conference } from './requests.js';
import { SchedulerTestProfile } from '../src/settings.js';
import { MemoryScheduleStore } from '../src/store/memory-schedule-store.js';
import { RedisScheduleStore } from '../src/store/redis-schedule-store.js';
import type { ScheduleStore } from '../src/store/schedule-store.js';

const TOKEN = 'health-token-1';

async function setup(store: ScheduleStore, extra: Partial<typeof SchedulerTestProfile> = {}) {
  const clock = new ManualClock(1_700_000_000_000);
  const registry = new MemoryRegistryStore({ clock });
  await registry.start();
  const scheduler = new Scheduler(
    { store, registry, clock, probe: async () => false },
    { ...SchedulerTestProfile, ...extra, id: 'h', address: '127.0.0.1:1', timers: false },
  );
  await scheduler.start();
  const api = await buildApi({ scheduler, store, registry, clock }, { token: TOKEN, region: 'eu' });
  return { clock, registry, scheduler, api };
}

describe('/healthz follows the store', () => {
  let redisServer: TestRedis;
  beforeAll(async () => {
    redisServer = await startRedis();
  });
  afterAll(async () => {
    await redisServer?.stop();
  });

  it('goes 503 when Redis dies and 200 when it is back, without waiting for a round', async () => {
    const redis = new Redis(redisServer.port, redisServer.host, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => 20,
    });
    redis.on('error', () => undefined); // refused reconnects while Redis is down are the point of this test
    await new Promise((r) => redis.once('ready', r));
    const { api, scheduler } = await setup(new RedisScheduleStore({ redis }, { prefix: 'health' }));
    const health = async () => (await api.inject({ url: '/healthz' })).statusCode;
    expect(await health()).toBe(200);
    const rounds = () => scheduler.metrics.rounds.get().then((m) => m.values[0]?.value ?? 0);
    const roundsBefore = await rounds();
    await redisServer.kill();
    await waitFor(
      '/healthz 503 after Redis died',
      async () => ((await health()) === 503 ? true : undefined),
      {
        timeoutMs: 10_000,
        intervalMs: 5,
      },
    );
    const body = (await api.inject({ url: '/healthz' })).json();
    expect(body).toMatchObject({ ok: false, store: 'unreachable' });
    expect((await api.inject({ url: '/metrics' })).body).toContain('scheduler_store_up 0');
    await redisServer.restart();
    await waitFor(
      '/healthz 200 after Redis came back',
      async () => ((await health()) === 200 ? true : undefined),
      {
        timeoutMs: 10_000,
        intervalMs: 5,
      },
    );
    expect(await rounds()).toBe(roundsBefore); // no round ran: the connection's events moved it
    await scheduler.stop();
    await api.close();
    redis.disconnect();
  });
});

describe('dead servers', () => {
  it('shown down with their last-seen time while they hold conferences or for the grace, then dropped', async () => {
    const store = new MemoryScheduleStore();
    const { clock, registry, scheduler, api } = await setup(store, { downGraceMs: 5000 });
    await registry.put({
      id: 'gone',
      service: 'conference-server',
      address: '127.0.0.1:7',
      region: 'eu',
      capacity: 10,
      load: 4,
      ttlMs: 1000,
      meta: { probe: 'sip' },
    });
    await flushEventLoop();
    await store.create(conference('c1', clock.now()));
    await clock.advanceAsync(SchedulerTestProfile.roundIntervalMs);
    await scheduler.runRound();
    expect(await store.conferencesOn('gone')).toEqual(['c1']);
    const live = (await api.inject({ url: '/v1/servers' })).json();
    expect(live).toEqual([
      expect.objectContaining({ id: 'gone', live: true, down: false, probe: 'sip', load: 4 }),
    ]);
    // its record lapses (no heartbeat) at T; probes fail: down after `misses`, conference moved off it
    await clock.advanceAsync(1300); // past the TTL and the registry's sweep interval
    await flushEventLoop();
    const lapsedAt = clock.now();
    for (let i = 0; i < SchedulerTestProfile.misses; i++) await scheduler.probeOnce();
    expect(await store.downServers()).toEqual(['gone']);
    const shown = (await api.inject({ url: '/v1/servers' })).json();
    expect(shown).toEqual([
      expect.objectContaining({
        id: 'gone',
        live: false,
        down: true,
        state: 'down',
        load: 0,
        conferences: 0,
      }),
    ]);
    expect(shown[0].lastSeenAt).toBeLessThanOrEqual(lapsedAt);
    expect(shown[0].lastSeenAt).toBeGreaterThan(lapsedAt - 2000);
    // within the grace it stays; after it, the next probe pass drops it (and the shared down mark)
    await clock.advanceAsync(4000);
    await scheduler.probeOnce();
    expect((await api.inject({ url: '/v1/servers' })).json()).toHaveLength(1);
    await clock.advanceAsync(1500);
    await scheduler.probeOnce();
    expect((await api.inject({ url: '/v1/servers' })).json()).toEqual([]);
    expect(await store.downServers()).toEqual([]);
    await scheduler.stop();
    await api.close();
  });
});
