/** The scheduler cluster suite on one real redis-server. */
import { afterAll, beforeAll } from 'vitest';
import { Redis } from 'ioredis';
import { startRedis, type TestRedis } from '@switchyard/testing';
import { schedulerClusterSuite } from './scheduler-cluster.suite.js';

let server: TestRedis;
let redis: Redis;

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.port, server.host);
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

schedulerClusterSuite('one Redis', {
  shared: () => redis,
  connect: () => new Redis(server.port, server.host),
});
