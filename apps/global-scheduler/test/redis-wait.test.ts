/**
 * `--redis-wait-replicas` (WAIT after the placement scripts) on real redis-servers: with a replica attached, every
 * placement is acknowledged by it before the scheduler is told (no shortfall) and is on the replica at once; with
 * no replica, WAIT times out short, the write still stands and the shortfall is counted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startRedis, waitFor, type TestRedis } from '@switchyard/testing';
import { RedisScheduleStore } from '../src/store/redis-schedule-store.js';
import { cand, req } from './schedule-store.compliance.js';

let master: TestRedis;
let replica: TestRedis;
beforeAll(async () => {
  master = await startRedis();
  replica = await startRedis({ args: ['--replicaof', master.host, String(master.port)] });
});
afterAll(async () => {
  await replica?.stop();
  await master?.stop();
});

describe('RedisScheduleStore waitReplicas', () => {
  it('with a replica: placements are on the replica when acknowledged; without one: counted short, still written', async () => {
    const m = new Redis(master.port, master.host);
    const r = new Redis(replica.port, replica.host);
    try {
      await waitFor('the replica to be in sync', async () =>
        /master_link_status:up/.test(await r.info('replication')),
      );
      const store = new RedisScheduleStore(
        { redis: m },
        { prefix: 'w1', waitReplicas: 1, waitTimeoutMs: 2000 },
      );
      for (let i = 0; i < 20; i++) await store.create(req(`c${i}`));
      const claimed = await store.claim('s1', 20, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
      const out = await store.place('s1', claimed, [cand('a', 100)]);
      expect(out.every((o) => o.ok)).toBe(true);
      expect(store.waitShortfalls).toBe(0);
      // acknowledged by the replica: readable there without waiting
      expect(await r.hlen('{w1:sched}:sched')).toBe(20);

      // a WAIT for more replicas than there are: times out short, is counted, the placement stands
      const short = new RedisScheduleStore(
        { redis: m },
        { prefix: 'w2', waitReplicas: 2, waitTimeoutMs: 20 },
      );
      await short.create(req('x'));
      const [x] = await short.claim('s1', 1, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
      expect(await short.place('s1', [x!], [cand('a', 10)])).toMatchObject([{ ok: true }]);
      expect(short.waitShortfalls).toBe(2); // the create and the place
      expect((await short.get('x'))?.state).toBe('placed');
    } finally {
      m.disconnect();
      r.disconnect();
    }
  });
});
