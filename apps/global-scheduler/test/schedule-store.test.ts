import { afterAll, beforeAll } from 'vitest';
import { Redis } from 'ioredis';
import { startRedis, type TestRedis } from '@switchyard/testing';
import { MemoryScheduleStore } from '../src/store/memory-schedule-store.js';
import { RedisScheduleStore } from '../src/store/redis-schedule-store.js';
import { RegionPartitionedStore } from '../src/store/region-partitioned-store.js';
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
// region-partitioned: conferences of region eu live in their own partition; servers without a region in the
// default one, so every placement below is a cross-partition fallback (reserve, commit, settle)
scheduleStoreCompliance(
  'redis, region-partitioned (eu on its own tag)',
  async () => new RegionPartitionedStore({ redis }, { prefix: `t${n++}`, regions: ['eu'] }),
  { placementsOnOtherShard: true },
);
// other regions partitioned, eu conferences and the servers in the default partition: the wrapper (directory,
// list cursor over partitions, sums) with every placement on one shard, as a single-region deployment has it
scheduleStoreCompliance(
  'redis, region-partitioned (us and ap on their own tags, eu in the default)',
  async () => new RegionPartitionedStore({ redis }, { prefix: `t${n++}`, regions: ['us', 'ap'] }),
);
