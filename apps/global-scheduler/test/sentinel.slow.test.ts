/**
 * Redis Sentinel (issue 12 §4): the scheduler's store and registry behind Sentinel (a master, a replica, 3 sentinels
 * on loopback; clients made by the process's own `createRedisClient` from `--redis-sentinels`). The master is killed
 * with -9: the sentinels promote the replica, the clients follow, placement resumes, nothing placed is lost that
 * the replica had.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, silentLogger } from '@switchyard/core';
import { RedisRegistryStore } from '@switchyard/registry';
import { startRedisSentinel, waitFor, type TestRedisSentinel } from '@switchyard/testing';
import { createRedisClient, type RedisClient } from '../src/redis-clients.js';
import { Scheduler } from '../src/scheduler.js';
import { conference } from './requests.js';
import { SchedulerTestProfile } from '../src/settings.js';
import { RedisScheduleStore } from '../src/store/redis-schedule-store.js';

let sentinel: TestRedisSentinel;
const clients: RedisClient[] = [];

beforeAll(async () => {
  sentinel = await startRedisSentinel({ downAfterMs: 1000 });
}, 60_000);
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await sentinel?.stop();
});

describe('schedulers behind Redis Sentinel', () => {
  it('kill -9 of the master: the replica is promoted, the clients follow, placement resumes', async () => {
    const config = {
      redis: 'redis://unused:1',
      clusterNodes: [],
      sentinelNodes: sentinel.sentinels,
      redisSentinelName: sentinel.name,
    };
    const client = (fast: boolean) => {
      const c = createRedisClient(
        config,
        silentLogger,
        undefined,
        fast ? { enableOfflineQueue: false, maxRetriesPerRequest: 0 } : {},
      );
      clients.push(c);
      return c;
    };
    const clock = new ManualClock(1_700_000_000_000);
    const fast = client(true);
    await new Promise((r) => fast.once('ready', r));
    const registry = new RedisRegistryStore({ redis: client(false), clock }, { prefix: 'sent' });
    await registry.start();
    const store = new RedisScheduleStore({ redis: fast }, { prefix: 'sent' });
    const scheduler = new Scheduler(
      { store, registry, clock },
      { ...SchedulerTestProfile, id: 'sent-1', address: '127.0.0.1:1', timers: false },
    );
    await scheduler.start();
    await registry.put({
      id: 'srv',
      service: 'conference-server',
      address: '127.0.0.1:7',
      region: 'eu',
      capacity: 1000,
      ttlMs: 3_600_000,
    });
    const create = (id: string) => store.create(conference(id, clock.now()));
    const round = async () => {
      await clock.advanceAsync(SchedulerTestProfile.roundIntervalMs);
      await scheduler.runRound();
    };
    await waitFor('the server in the scheduler view', () => scheduler.servers.get('srv'));
    for (let i = 0; i < 50; i++) await create(`before-${i}`);
    await round();
    expect((await store.counts()).placed).toBe(50);
    // the replica has what the master acknowledged (asynchronous replication: wait for it to catch up first)
    await fast.wait(1, 2000);
    const oldPort = sentinel.master.port;
    await sentinel.master.kill9();
    await waitFor(
      'the sentinels to promote the replica',
      async () => ((await sentinel.currentMasterPort()) === sentinel.replica.port ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect(await sentinel.currentMasterPort()).not.toBe(oldPort);
    // the clients reconnect through the sentinels to the new master: the store answers again
    await waitFor(
      'the store to answer through the new master',
      async () => (await store.counts().catch(() => undefined)) ?? undefined,
      {
        timeoutMs: 30_000,
        intervalMs: 100,
      },
    );
    for (let i = 0; i < 50; i++) await create(`after-${i}`);
    for (let r = 0; r < 20 && (await store.counts()).placed < 100; r++) await round();
    expect(await store.counts()).toMatchObject({ placed: 100, pending: 0 });
    await waitFor('/healthz state up again', () => scheduler.storeUp || undefined, { timeoutMs: 10_000 });
    await scheduler.stop();
    await registry.stop();
  }, 120_000);
});
