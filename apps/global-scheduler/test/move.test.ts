/**
 * Contract C8, `POST /v1/conferences/:id/move`, over a real socket: a real scheduler on a real Redis (schedule
 * store and registry both on it), the assignment read back from the registry feed as a POP host agent would.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { systemClock } from '@switchyard/core';
import { RedisRegistryStore, REDIS_STORE_TEST_PROFILE, type FeedEvent } from '@switchyard/registry';
import { startRedis, waitFor, type TestRedis } from '@switchyard/testing';
import { buildApi } from '../src/api/api.js';
import { Scheduler } from '../src/scheduler.js';
import { SchedulerTestProfile } from '../src/settings.js';
import { RedisScheduleStore } from '../src/store/redis-schedule-store.js';
import type { ConferenceRecord } from '../src/store/schedule-store.js';

const TOKEN = 'move-token';
const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

let redisServer: TestRedis;
beforeAll(async () => {
  redisServer = await startRedis();
});
afterAll(async () => {
  await redisServer?.stop();
});

describe('POST /v1/conferences/:id/move (C8), real Redis, real scheduler', () => {
  it('moves to the named server or the best other one: epoch + 1, history, assignment republished; error cases', async () => {
    const redis = new Redis(redisServer.port, redisServer.host);
    const registry = new RedisRegistryStore(
      { redis, clock: systemClock },
      { ...REDIS_STORE_TEST_PROFILE, prefix: 'mv' },
    );
    await registry.start();
    const store = new RedisScheduleStore({ redis }, { prefix: 'mv' });
    // rounds are driven by the test (timers off); probes are never run, so no server is marked down by them
    const scheduler = new Scheduler(
      { store, registry, clock: systemClock },
      { ...SchedulerTestProfile, id: 'mv-sched', address: '127.0.0.1:1', timers: false },
    );
    await scheduler.start();
    const app = await buildApi(
      { scheduler, store, registry, clock: systemClock },
      { token: TOKEN, region: 'eu' },
    );
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    const feed: FeedEvent[] = [];
    const watch = registry.watch('conference');
    const reading = (async () => {
      for await (const e of watch) feed.push(e);
    })();
    try {
      const server = (id: string, region: string, capacity: number, state?: 'draining') =>
        registry.put({
          id,
          service: 'conference-server',
          address: `127.0.3.1:${5000 + id.length}`,
          region,
          capacity,
          ttlMs: 600_000,
          ...(state ? { state } : {}),
        });
      await server('eu-a', 'eu', 10);
      await server('eu-b', 'eu', 10);
      await server('us-c', 'us', 100);
      await server('eu-drain', 'eu', 100, 'draining');
      await waitFor('the scheduler to see 4 servers', () => scheduler.servers.all().length === 4);
      const getConf = async (id: string) =>
        (await (await fetch(`${base}/v1/conferences/${id}`)).json()) as ConferenceRecord;
      const post = (path: string, body?: unknown, headers: Record<string, string> = auth) =>
        fetch(`${base}${path}`, {
          method: 'POST',
          headers,
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      expect((await post('/v1/conferences', { id: 'conf-1', expectedParticipants: 4 })).status).toBe(201);
      expect((await post('/v1/conferences', { id: 'conf-2', expectedParticipants: 8 })).status).toBe(201);

      // not placed yet: 409 SCH_ERR_NOT_PLACED; unknown: 404; no token: 401
      let r = await post('/v1/conferences/conf-1/move', {});
      expect(r.status).toBe(409);
      expect(await r.json()).toMatchObject({ error: 'SCH_ERR_NOT_PLACED' });
      r = await post('/v1/conferences/nope/move', {});
      expect(r.status).toBe(404);
      expect(await r.json()).toMatchObject({ error: 'SCH_ERR_NOT_FOUND' });
      r = await post('/v1/conferences/conf-1/move', {}, { 'content-type': 'application/json' });
      expect(r.status).toBe(401);
      expect(await r.json()).toMatchObject({ error: 'SCH_ERR_UNAUTHORIZED' });

      await scheduler.runRound();
      const before = await getConf('conf-1');
      expect(before).toMatchObject({ state: 'placed', assignment: { moves: 0 } });
      expect(before.history).toBeUndefined();
      const from: string = before.assignment!.serverId;
      const other = from === 'eu-a' ? 'eu-b' : 'eu-a';
      const conf2 = await getConf('conf-2');
      expect(conf2.assignment!.serverId).toBe(other); // least loaded: the two went to different servers

      // refused: the current server, a draining one, an unknown one, one without room (other holds 8 of 10),
      // an unknown field, a non-string target
      for (const [to, code] of [
        [from, 'SCH_ERR_NO_CAPACITY'],
        ['eu-drain', 'SCH_ERR_NO_CAPACITY'],
        ['ghost', 'SCH_ERR_NO_CAPACITY'],
        [other, 'SCH_ERR_NO_CAPACITY'],
      ] as const) {
        r = await post('/v1/conferences/conf-1/move', { to });
        expect(r.status, `to ${to}`).toBe(409);
        expect(await r.json()).toMatchObject({ error: code });
      }
      r = await post('/v1/conferences/conf-1/move', { to: 'us-c', force: true });
      expect(r.status).toBe(400);
      expect(await r.json()).toMatchObject({ error: 'SCH_ERR_BAD_REQUEST', field: 'body.force' });
      r = await post('/v1/conferences/conf-1/move', { to: 5 });
      expect(r.status).toBe(400);
      expect(await r.json()).toMatchObject({ error: 'SCH_ERR_BAD_REQUEST', field: 'body.to' });
      // nothing changed by the refusals
      expect(await getConf('conf-1')).toEqual(before);

      // to a named server in another region
      r = await post('/v1/conferences/conf-1/move', { to: 'us-c' });
      expect(r.status).toBe(200);
      const moved = (await r.json()) as ConferenceRecord;
      expect(moved).toMatchObject({
        id: 'conf-1',
        state: 'placed',
        assignment: { serverId: 'us-c', moves: 1 },
      });
      // epoch: the counter is global; conf-2 took one between (before.epoch + 1), so the move took the next
      expect(moved.assignment!.epoch).toBeGreaterThan(
        Math.max(before.assignment!.epoch, conf2.assignment!.epoch),
      );
      expect(moved.history).toEqual([
        {
          from,
          to: 'us-c',
          epoch: moved.assignment!.epoch,
          at: moved.assignment!.placedAt,
          reason: 'operator',
        },
      ]);
      // the answer is exactly what GET answers now
      expect(await getConf('conf-1')).toEqual(moved);
      // the assignment is republished with the new epoch: what a POP host's agent follows
      await waitFor('the feed to carry the moved assignment', () =>
        feed.some(
          (e) =>
            e.type === 'updated' &&
            e.record.id === 'conf-1' &&
            e.record.meta['serverId'] === 'us-c' &&
            e.record.meta['epoch'] === String(moved.assignment!.epoch),
        ),
      );
      expect((await registry.get('conference', 'conf-1'))?.meta).toEqual({
        serverId: 'us-c',
        epoch: String(moved.assignment!.epoch),
        moves: '1',
      });
      const servers = (await (await fetch(`${base}/v1/servers`)).json()) as {
        id: string;
        reserved: number;
      }[];
      const reserved = Object.fromEntries(servers.map((s) => [s.id, s.reserved]));
      expect(reserved).toMatchObject({ [from]: 0, [other]: 8, 'us-c': 4 });

      // without `to`: the best other serving server with room — its own region first (eu), not the draining one
      // (no body at all: the console may send none)
      r = await post('/v1/conferences/conf-1/move', undefined, { authorization: auth.authorization });
      expect(r.status).toBe(200);
      const back = (await r.json()) as ConferenceRecord;
      expect(back.assignment).toMatchObject({ serverId: from, moves: 2 });
      expect(back.assignment!.epoch).toBe(moved.assignment!.epoch + 1);
      expect(back.history!.map((h) => `${h.from}>${h.to}`)).toEqual([`${from}>us-c`, `us-c>${from}`]);
      // nowhere else with room: conf-2 (8) fits neither on from (4 of 10 used) nor on drained/full servers…
      await server('us-c', 'us', 0); // us-c shrinks to nothing
      await waitFor(
        'the scheduler to see us-c with no capacity',
        () => scheduler.servers.get('us-c')?.capacity === 0,
      );
      r = await post('/v1/conferences/conf-2/move', {});
      expect(r.status).toBe(409);
      expect(await r.json()).toMatchObject({ error: 'SCH_ERR_NO_CAPACITY' });
    } finally {
      watch.close();
      await reading;
      await app.close();
      await scheduler.stop();
      await registry.stop();
      redis.disconnect();
    }
  });
});
