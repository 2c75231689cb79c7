import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { ConfigError, ManualClock, SystemClock } from '@switchyard/core';
import { startRedis, undocumentedCodes, waitFor, type TestRedis, thrownBy } from '@switchyard/testing';
import {
  Lease,
  type FeedQueue,
  RedisRegistryStore,
  RegistryErrors,
  REDIS_STORE_TEST_PROFILE,
  type FeedEvent,
} from '../src/index.js';

/** Redis Cluster's key slot: CRC16/XMODEM of the hash tag (or the whole key), mod 16384. */
function keySlot(key: string): number {
  const open = key.indexOf('{');
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1;
  const s = open >= 0 && close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(s)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

const configError = (fn: () => unknown): ConfigError => thrownBy(fn, ConfigError);

let server: TestRedis;
let redis: Redis;
beforeAll(async () => {
  server = await startRedis();
  redis = new Redis({ host: server.host, port: server.port, retryStrategy: () => 50 });
  redis.on('error', () => undefined);
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

describe('Redis key schema', () => {
  it('keySlot matches the Redis Cluster reference value', () => {
    expect(keySlot('123456789')).toBe(12739);
    expect(keySlot('a:{user1000}:x')).toBe(keySlot('b:{user1000}:y'));
  });

  it('every key of a service shares one slot, has the documented type and a GC TTL; the prefix is configurable', async () => {
    const clock = new ManualClock();
    const store = new RedisRegistryStore({ redis, clock }, { ...REDIS_STORE_TEST_PROFILE, prefix: 'ks' });
    await store.start();
    await store.put({ id: 'a', service: 'conf', address: '127.0.0.1:1', ttlMs: 1000 });
    await store.put({ id: 'b', service: 'other', address: '127.0.0.1:2', ttlMs: 1000 });
    const keys = (await redis.keys('ks:*')).sort();
    expect(keys).toEqual([
      'ks:services',
      ...['epoch', 'exp', 'feed', 'rec', 'rev', 'rv'].map((k) => `ks:{conf}:${k}`),
      ...['epoch', 'exp', 'feed', 'rec', 'rev', 'rv'].map((k) => `ks:{other}:${k}`),
    ]);
    const types: Record<string, string> = {
      rec: 'hash',
      rv: 'hash',
      exp: 'zset',
      rev: 'string',
      feed: 'stream',
      epoch: 'string',
    };
    for (const k of keys.filter((k) => k.includes('{conf}'))) {
      expect(keySlot(k)).toBe(keySlot('ks:{conf}:rec'));
      expect(await redis.type(k)).toBe(types[k.split(':').pop()!]);
      const pttl = await redis.pttl(k);
      expect(pttl).toBeGreaterThan(REDIS_STORE_TEST_PROFILE.gcTtlMs - 60_000); // a backstop far beyond any lease
    }
    expect(keySlot('ks:{conf}:rec')).not.toBe(keySlot('ks:{other}:rec'));
    expect(await redis.smembers('ks:services')).toEqual(expect.arrayContaining(['conf', 'other']));
    await store.stop();
    expect(() => new RedisRegistryStore({ redis, clock }, { prefix: 'a{b}' })).toThrow(ConfigError);
    expect(() => new RedisRegistryStore({ redis, clock }, { sweepIntervalMs: -1 })).toThrow(
      /sweepIntervalMs/,
    );
  });

  it('records expire on the store clock, not on Redis time', async () => {
    const clock = new ManualClock(Date.now() - 3600_000); // an hour behind the server's clock
    const store = new RedisRegistryStore({ redis, clock }, { ...REDIS_STORE_TEST_PROFILE, prefix: 'clk' });
    await store.start();
    await store.put({ id: 'a', service: 's', address: 'x', ttlMs: 1000 });
    expect(await store.get('s', 'a')).toBeDefined();
    await clock.advanceAsync(1000);
    expect(await store.get('s', 'a')).toBeUndefined();
    await store.stop();
  });

  it('a Lease on Redis survives a Redis restart: lost, then registered again; a watcher sees reset + the record', async () => {
    const clock = new SystemClock({ unref: true }); // real heartbeats against a real restart
    const store = new RedisRegistryStore({ redis, clock }, { ...REDIS_STORE_TEST_PROFILE, prefix: 'lease' });
    await store.start();
    const lease = new Lease(
      { store, clock },
      { record: { id: 'sched-1', service: 'scheduler', address: '127.0.0.1:7001', ttlMs: 600 } },
    );
    const seen: string[] = [];
    lease.on((e) => seen.push(e.type));
    await lease.start();
    const events: FeedEvent[] = [];
    const w = store.watch('scheduler');
    const reading = (async () => {
      for await (const e of w) events.push(e);
    })();
    await waitFor('snapshot with the lease', () =>
      events.find((e) => e.type === 'snapshot' && e.records.length === 1),
    );
    await server.kill();
    await server.restart();
    await waitFor(
      'lease re-registered',
      () => seen.includes('lost') && seen.lastIndexOf('registered') > seen.indexOf('lost'),
      { timeoutMs: 10_000 },
    );
    await waitFor(
      'watcher reset and sees the lease again',
      () => {
        const r = events.findIndex((e) => e.type === 'reset');
        return (
          r >= 0 &&
          events
            .slice(r)
            .some(
              (e) =>
                (e.type === 'snapshot' && e.records.some((x) => x.id === 'sched-1')) || e.type === 'added',
            )
        );
      },
      { timeoutMs: 10_000 },
    );
    await lease.stop();
    w.close();
    await reading;
    await store.stop();
  });
});

describe('Redis watch backpressure', () => {
  it('a consumer that does not read is not reset: the feed waits in Redis, then arrives complete and in order', async () => {
    const clock = new ManualClock();
    const store = new RedisRegistryStore(
      { redis, clock },
      { ...REDIS_STORE_TEST_PROFILE, prefix: 'bp', maxQueued: 30, readBatch: 10, feedMaxLen: 1000 },
    );
    await store.start();
    const w = store.watch('s') as FeedQueue;
    const it = w[Symbol.asyncIterator]();
    expect((await it.next()).value).toMatchObject({ type: 'snapshot', revision: 0 });
    for (let i = 0; i < 200; i++)
      await store.put({ id: `r${i % 7}`, service: 's', address: 'x', ttlMs: 60_000, load: i });
    await waitFor('queue filled to its bound', () => w.length >= 20);
    expect(w.length).toBeLessThanOrEqual(30);
    const revs: number[] = [];
    while (revs.length < 200) {
      const { value } = await it.next();
      expect(value!.type === 'added' || value!.type === 'updated').toBe(true);
      revs.push(value!.revision);
    }
    expect(revs).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    w.close();
    await store.stop();
    expect(() => new RedisRegistryStore({ redis, clock }, { maxQueued: 10, readBatch: 10 })).toThrow(
      /maxQueued/,
    );
  });
});

describe('resume across a Redis restart in the same process', () => {
  it('resets even when the new incarnation has already passed the resume revision', async () => {
    const clock = new ManualClock();
    const store = new RedisRegistryStore({ redis, clock }, { ...REDIS_STORE_TEST_PROFILE, prefix: 'rr' });
    await store.start();
    const w = store.watch('s');
    const it = w[Symbol.asyncIterator]();
    await it.next(); // snapshot
    for (let i = 0; i < 3; i++) await store.put({ id: `a${i}`, service: 's', address: 'x', ttlMs: 60_000 });
    for (let i = 0; i < 3; i++) await it.next();
    w.close(); // the subscriber goes away at revision 3
    await server.kill();
    await server.restart();
    await waitFor('redis back', async () => (await redis.ping().catch(() => '')) === 'PONG');
    for (let i = 0; i < 5; i++) await store.put({ id: `b${i}`, service: 's', address: 'x', ttlMs: 60_000 }); // revisions 1..5 anew
    const w2 = store.watch('s', 3);
    const it2 = w2[Symbol.asyncIterator]();
    expect((await it2.next()).value).toMatchObject({ type: 'reset' });
    const snap = (await it2.next()).value as FeedEvent;
    expect(snap.type === 'snapshot' && snap.records.map((r) => r.id)).toEqual(['b0', 'b1', 'b2', 'b3', 'b4']);
    w2.close();
    await store.stop();
  });
});

describe('error table', () => {
  it('every REG_ERR_ code is documented in the README', () => {
    expect(Object.keys(RegistryErrors).length).toBeGreaterThan(5);
    expect(undocumentedCodes(RegistryErrors, path.join(import.meta.dirname, '..', 'README.md'))).toEqual([]);
  });
});

describe('Redis store: config', () => {
  it('throws a ConfigError naming the first bad field of init', () => {
    const clock = new ManualClock();
    const field = (init: object) => configError(() => new RedisRegistryStore({ redis, clock }, init)).field;
    expect(field({ prefix: 'a{b}' })).toBe('prefix');
    expect(field({ prefix: 5 })).toBe('prefix');
    expect(field({ prefix: '' })).toBe('prefix');
    expect(field({ readBatch: 0 })).toBe('readBatch');
    expect(field({ gcTtlMs: 1.5 })).toBe('gcTtlMs');
    expect(field({ maxQueued: 10, readBatch: 10 })).toBe('maxQueued');
    expect(field({ limits: { maxStringLength: 2.5 } })).toBe('limits.maxStringLength');
    expect(() => new RedisRegistryStore({ redis, clock }, { ...REDIS_STORE_TEST_PROFILE })).not.toThrow();
  });
});
