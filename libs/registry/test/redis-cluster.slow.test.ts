/**
 * The registry compliance suite, unchanged, on a real Redis Cluster (3 masters + 3 replicas on loopback, ioredis
 * `Cluster`): every script's keys share the service's hash tag, so each runs on one shard; the watch's blocking
 * reads run on a duplicated Cluster connection.
 */
import { afterAll, beforeAll } from 'vitest';
import { Cluster } from 'ioredis';
import { ManualClock } from '@switchyard/core';
import { startRedisCluster, type TestRedisCluster } from '@switchyard/testing';
import { RedisRegistryStore, REDIS_STORE_TEST_PROFILE } from '../src/index.js';
import { registryCompliance } from './compliance.js';

let cluster: TestRedisCluster;
let n = 0;
beforeAll(async () => {
  cluster = await startRedisCluster();
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

registryCompliance('redis-cluster', async () => {
  const clock = new ManualClock();
  const prefix = `k${++n}`;
  const clients: Array<{ redis: Cluster; store: RedisRegistryStore }> = [];
  return {
    clock,
    sweepMs: REDIS_STORE_TEST_PROFILE.sweepIntervalMs,
    async client() {
      const redis = new Cluster([...cluster.seeds], { slotsRefreshInterval: 1000 });
      redis.on('error', () => undefined);
      await new Promise((r) => redis.once('ready', r));
      const store = new RedisRegistryStore({ redis, clock }, { ...REDIS_STORE_TEST_PROFILE, prefix });
      await store.start();
      clients.push({ redis, store });
      return store;
    },
    async close() {
      for (const c of clients) {
        await c.store.stop();
        c.redis.disconnect();
      }
    },
  };
});
