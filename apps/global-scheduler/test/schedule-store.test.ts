import { afterAll, beforeAll } from 'vitest';
import { Redis } from 'ioredis';
import { startRedis, type TestRedis } from '@switchyard/testing';
import { MemoryScheduleStore } from '../src/store/memory-schedule-store.js';
import { RedisScheduleStore } from '../src/store/redis-schedule-store.js';
import { scheduleStoreCompliance } from './schedule-store.compliance.js';

let server: TestRedis;
let redis: Redis;
let n = 0;

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.port, server.host);
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

scheduleStoreCompliance('memory', async () => new MemoryScheduleStore());
scheduleStoreCompliance('redis', async () => new RedisScheduleStore({ redis }, { prefix: `t${n++}` }));
