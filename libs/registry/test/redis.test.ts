import { afterAll, beforeAll } from 'vitest';
import { Redis } from 'ioredis';
import { ManualClock } from '@switchyard/core';
import { startRedis, type TestRedis } from '@switchyard/testing';
import { RedisRegistryStore, REDIS_STORE_TEST_PROFILE } from '../src/index.js';
import { declareRestartable, registryCompliance } from '../src/compliance/index.js';

// one real redis-server for this file; each test gets its own key prefix, each client its own connection
let server: TestRedis;
let n = 0;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server?.stop();
});

declareRestartable('redis');
registryCompliance('redis', async () => {
  const clock = new ManualClock();
  const prefix = `t${++n}`;
  const clients: Array<{ redis: Redis; store: RedisRegistryStore }> = [];
  return {
    clock,
    sweepMs: REDIS_STORE_TEST_PROFILE.sweepIntervalMs,
    async client() {
      const redis = new Redis({
        host: server.host,
        port: server.port,
        lazyConnect: true,
        retryStrategy: () => 50,
      });
      redis.on('error', () => undefined); // connection errors during the restart test are expected
      await redis.connect();
      const store = new RedisRegistryStore({ redis, clock }, { ...REDIS_STORE_TEST_PROFILE, prefix });
      await store.start();
      clients.push({ redis, store });
      return store;
    },
    async restartBackend() {
      await server.kill();
      await server.restart();
    },
    async close() {
      for (const c of clients) {
        await c.store.stop();
        c.redis.disconnect();
      }
    },
  };
});
