/** The API through inject() (memory store) and through a real socket (Redis store), every error case included. */
import net from 'node:net';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { ManualClock } from '@switchyard/core';
import { startRedis, undocumentedCodes, type TestRedis } from '@switchyard/testing';
import { buildApi } from '../src/api/api.js';
import { Scheduler } from '../src/scheduler.js';
import { SchedulerTestProfile } from '../src/settings.js';
import { SchedulerErrors } from '../src/errors.js';
import { MemoryScheduleStore } from '../src/store/memory-schedule-store.js';
import { RedisScheduleStore } from '../src/store/redis-schedule-store.js';
import type { ScheduleStore } from '../src/store/schedule-store.js';
import { MemoryRegistryStore } from '@switchyard/registry';

const TOKEN = 'test-token-123';
const auth = { authorization: `Bearer ${TOKEN}` };

async function setup(store: ScheduleStore = new MemoryScheduleStore()) {
  const clock = new ManualClock(1_700_000_000_000);
  const registry = new MemoryRegistryStore({ clock });
  await registry.start();
  const scheduler = new Scheduler(
    { store, registry, clock },
    { ...SchedulerTestProfile, id: 'api-sched', address: '127.0.0.1:1', timers: false },
  );
  await scheduler.start();
  const app = await buildApi({ scheduler, store, registry, clock }, { token: TOKEN, region: 'eu' });
  return { clock, registry, scheduler, store, app };
}

describe('API (inject)', () => {
  it('creates, gets, lists with paging and ends conferences; placement shows up', async () => {
    const { app, registry, scheduler, clock } = await setup();
    await registry.put({
      id: 'srv-1',
      service: 'conference-server',
      address: '127.0.0.1:5060',
      region: 'eu',
      capacity: 10,
      ttlMs: 3_600_000,
    });
    for (let i = 0; i < 3; i++) {
      const r = await app.inject({
        method: 'POST',
        url: '/v1/conferences',
        headers: auth,
        payload: { id: `c${i}`, expectedParticipants: 2 },
      });
      expect(r.statusCode).toBe(201);
      expect(r.json()).toMatchObject({
        id: `c${i}`,
        region: 'eu',
        state: 'pending',
        durationS: 3600,
        startAt: clock.now(),
      });
    }
    await clock.advanceAsync(100);
    await scheduler.runRound();
    const got = await app.inject({ url: '/v1/conferences/c1' });
    expect(got.json()).toMatchObject({
      state: 'placed',
      assignment: { serverId: 'srv-1', address: '127.0.0.1:5060' },
    });
    const p1 = (await app.inject({ url: '/v1/conferences?limit=2' })).json();
    expect(p1.items.map((c: { id: string }) => c.id)).toEqual(['c0', 'c1']);
    const p2 = (await app.inject({ url: `/v1/conferences?limit=2&cursor=${p1.next}` })).json();
    expect(p2).toMatchObject({ items: [{ id: 'c2' }] });
    expect(p2.next).toBeUndefined();
    const servers = (await app.inject({ url: '/v1/servers' })).json();
    expect(servers).toEqual([
      expect.objectContaining({
        id: 'srv-1',
        reserved: 6,
        conferences: 3,
        state: 'serving',
        markedDown: false,
        live: true,
      }),
    ]);
    const scheds = (await app.inject({ url: '/v1/schedulers' })).json();
    expect(scheds).toEqual([
      expect.objectContaining({
        id: 'api-sched',
        lastShare: expect.objectContaining({ share: 3, placed: 3, n: 1 }),
      }),
    ]);
    expect(
      (await app.inject({ method: 'DELETE', url: '/v1/conferences/c1', headers: auth })).statusCode,
    ).toBe(204);
    expect((await app.inject({ url: '/v1/conferences/c1' })).statusCode).toBe(404);
    expect((await app.inject({ url: '/v1/servers' })).json()[0].reserved).toBe(4);
    // the assignment went out on the feed
    expect((await registry.get('conference', 'c0'))?.meta).toMatchObject({ serverId: 'srv-1' });
    await scheduler.stop();
  });

  it('drain sends no new conferences to a server but keeps its own; undrain serves again', async () => {
    const { app, registry, scheduler, clock } = await setup();
    await registry.put({
      id: 'a',
      service: 'conference-server',
      address: 'a',
      region: 'eu',
      capacity: 10,
      ttlMs: 3_600_000,
    });
    await registry.put({
      id: 'b',
      service: 'conference-server',
      address: 'b',
      region: 'eu',
      capacity: 10,
      ttlMs: 3_600_000,
    });
    await app.inject({
      method: 'POST',
      url: '/v1/conferences',
      headers: auth,
      payload: { id: 'x', expectedParticipants: 1 },
    });
    await clock.advanceAsync(100);
    await scheduler.runRound();
    const on = (await app.inject({ url: '/v1/conferences/x' })).json().assignment.serverId as string;
    const drained = await app.inject({ method: 'POST', url: `/v1/servers/${on}/drain`, headers: auth });
    expect(drained.json()).toMatchObject({ id: on, state: 'draining', conferences: 1 });
    for (let i = 0; i < 4; i++)
      await app.inject({
        method: 'POST',
        url: '/v1/conferences',
        headers: auth,
        payload: { id: `y${i}`, expectedParticipants: 1 },
      });
    await clock.advanceAsync(100);
    await scheduler.runRound();
    const list = (await app.inject({ url: '/v1/conferences' })).json().items as {
      id: string;
      assignment: { serverId: string };
    }[];
    expect(list.find((c) => c.id === 'x')!.assignment.serverId).toBe(on);
    for (const c of list.filter((c) => c.id !== 'x')) expect(c.assignment.serverId).not.toBe(on);
    expect(
      (await app.inject({ method: 'POST', url: `/v1/servers/${on}/undrain`, headers: auth })).json().state,
    ).toBe('serving');
    await scheduler.stop();
  });

  it.each([
    [{ expectedParticipants: 2 }, 'body.id'],
    [{ id: 'ok', expectedParticipants: 0 }, 'body.expectedParticipants'],
    [{ id: 'ok', expectedParticipants: 'many' }, 'body.expectedParticipants'],
    [{ id: 'bad id!', expectedParticipants: 1 }, 'body.id'],
    [{ id: 'ok', expectedParticipants: 1, durationS: -5 }, 'body.durationS'],
    [{ id: 'ok', expectedParticipants: 1, region: 'EU WEST' }, 'body.region'],
    [{ id: 'ok', expectedParticipants: 1, colour: 'red' }, 'body.colour'],
    // no type coercion: a number is not an id, a string or a boolean is not a count
    [{ id: 5, expectedParticipants: 1 }, 'body.id'],
    [{ id: 'ok', expectedParticipants: '5' }, 'body.expectedParticipants'],
    [{ id: 'ok', expectedParticipants: true }, 'body.expectedParticipants'],
    [{ id: 'ok', expectedParticipants: 1, durationS: '60' }, 'body.durationS'],
    [{ id: 'x'.repeat(129), expectedParticipants: 1 }, 'body.id'],
    // startAt bounded: not long past (it would be placed then swept unseen), not beyond the horizon
    [{ id: 'ok', expectedParticipants: 1, startAt: 0 }, 'body.startAt'],
    [{ id: 'ok', expectedParticipants: 1, startAt: 9e15 }, 'body.startAt'],
    [{ id: 'ok', expectedParticipants: 1, startAt: 1e300 }, 'body.startAt'],
    [{ id: 'ok', expectedParticipants: 1, startAt: 1_700_000_000_000 + 366 * 86_400_000 }, 'body.startAt'],
  ])('400 naming the field for %j', async (payload, field) => {
    const { app, scheduler } = await setup();
    const r = await app.inject({ method: 'POST', url: '/v1/conferences', headers: auth, payload });
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ error: 'SCH_ERR_BAD_REQUEST', field });
    expect(r.json().message).toContain(field);
    await scheduler.stop();
  });

  it('400 on a bad query, 401 without or with a wrong token, 404 on unknown ids, 409 on duplicates', async () => {
    const { app, scheduler } = await setup();
    expect((await app.inject({ url: '/v1/conferences?limit=0' })).json()).toMatchObject({
      field: 'querystring.limit',
    });
    const body = { id: 'd', expectedParticipants: 1 };
    expect((await app.inject({ method: 'POST', url: '/v1/conferences', payload: body })).statusCode).toBe(
      401,
    );
    const wrong = await app.inject({
      method: 'POST',
      url: '/v1/conferences',
      headers: { authorization: 'Bearer nope' },
      payload: body,
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().error).toBe('SCH_ERR_UNAUTHORIZED');
    expect((await app.inject({ method: 'DELETE', url: '/v1/conferences/d' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'POST', url: '/v1/servers/x/drain' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/v1/conferences/none' })).json()).toMatchObject({
      error: 'SCH_ERR_NOT_FOUND',
    });
    expect(
      (await app.inject({ method: 'DELETE', url: '/v1/conferences/none', headers: auth })).statusCode,
    ).toBe(404);
    expect(
      (await app.inject({ method: 'POST', url: '/v1/servers/none/drain', headers: auth })).statusCode,
    ).toBe(404);
    expect(
      (await app.inject({ method: 'POST', url: '/v1/conferences', headers: auth, payload: body })).statusCode,
    ).toBe(201);
    const dup = await app.inject({ method: 'POST', url: '/v1/conferences', headers: auth, payload: body });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error).toBe('SCH_ERR_DUPLICATE');
    await scheduler.stop();
  });

  it('one id limit for every route: a 128-character id is created, read and ended; 129 is refused everywhere', async () => {
    const { app, scheduler } = await setup();
    const id = `a${'b'.repeat(127)}`;
    const created = await app.inject({
      method: 'POST',
      url: '/v1/conferences',
      headers: auth,
      payload: { id, expectedParticipants: 1 },
    });
    expect(created.statusCode).toBe(201);
    expect((await app.inject({ url: `/v1/conferences/${id}` })).statusCode).toBe(200);
    expect(
      (await app.inject({ method: 'DELETE', url: `/v1/conferences/${id}`, headers: auth })).statusCode,
    ).toBe(204);
    for (const method of ['GET', 'DELETE'] as const) {
      const r = await app.inject({ method, url: `/v1/conferences/${id}x`, headers: auth });
      expect(r.statusCode).toBe(414);
      expect(r.json()).toMatchObject({ error: 'SCH_ERR_URI_TOO_LONG' });
    }
    await scheduler.stop();
  });

  it('every error in the SCH_ERR format: unknown route, bad URL, __proto__, bad JSON, big body, bad media type', async () => {
    const { app, scheduler } = await setup();
    const cases: Array<[InjectOptions, number, string, string?]> = [
      [{ url: '/nowhere' }, 404, 'SCH_ERR_NOT_FOUND'],
      [{ method: 'PUT', url: '/v1/conferences' }, 404, 'SCH_ERR_NOT_FOUND'],
      [{ url: '/v1/conferences/%E0%A4%A' }, 400, 'SCH_ERR_BAD_REQUEST'],
      [
        {
          method: 'POST',
          url: '/v1/conferences',
          headers: { ...auth, 'content-type': 'application/json' },
          payload: '{"id":"p","expectedParticipants":1,"__proto__":{"x":1}}',
        },
        400,
        'SCH_ERR_BAD_REQUEST',
        'body.__proto__',
      ],
      [
        {
          method: 'POST',
          url: '/v1/conferences',
          headers: { ...auth, 'content-type': 'application/json' },
          payload: '{"id":',
        },
        400,
        'SCH_ERR_BAD_REQUEST',
        'body',
      ],
      [
        {
          method: 'POST',
          url: '/v1/conferences',
          headers: { ...auth, 'content-type': 'application/xml' },
          payload: '<hello/>',
        },
        415,
        'SCH_ERR_UNSUPPORTED_MEDIA',
      ],
      [
        {
          method: 'POST',
          url: '/v1/conferences',
          headers: { ...auth, 'content-type': 'application/json' },
          payload: `{"id":"big","pad":"${'x'.repeat(1_100_000)}"}`,
        },
        413,
        'SCH_ERR_TOO_LARGE',
      ],
      [{ url: '/v1/conferences?limit=5.5' }, 400, 'SCH_ERR_BAD_REQUEST', 'querystring.limit'],
      [{ url: '/v1/conferences?limit=true' }, 400, 'SCH_ERR_BAD_REQUEST', 'querystring.limit'],
    ];
    for (const [req, status, error, field] of cases) {
      const r = await app.inject(req);
      expect({ url: req.url, status: r.statusCode }).toEqual({ url: req.url, status });
      expect(r.json()).toMatchObject({ error, ...(field ? { field } : {}) });
      expect(typeof r.json().message).toBe('string');
    }
    await scheduler.stop();
  });

  it('serves the OpenAPI document, /metrics and /healthz', async () => {
    const { app, scheduler } = await setup();
    const doc = (await app.inject({ url: '/openapi.json' })).json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/conferences',
        '/v1/conferences/{id}',
        '/v1/servers',
        '/v1/servers/{id}/drain',
        '/v1/schedulers',
      ]),
    );
    expect(
      doc.paths['/v1/conferences'].post.requestBody.content['application/json'].schema.required,
    ).toContain('expectedParticipants');
    expect((await app.inject({ url: '/metrics' })).body).toContain('scheduler_placements_total');
    expect((await app.inject({ url: '/healthz' })).json()).toMatchObject({ ok: true, store: 'up' });
    await scheduler.stop();
  });

  it('documents every error code in the README', () => {
    expect(undocumentedCodes(SchedulerErrors, new URL('../README.md', import.meta.url).pathname)).toEqual([]);
  });
});

describe('API over a real socket with Redis', () => {
  let redisServer: TestRedis;
  beforeAll(async () => {
    redisServer = await startRedis();
  });
  afterAll(async () => {
    await redisServer?.stop();
  });

  it('answers over TCP; 503 with retry-after while Redis is down; recovers by itself', async () => {
    const redis = new Redis(redisServer.port, redisServer.host, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => 50,
    });
    redis.on('error', () => undefined); // refused connects while Redis is down are expected here
    await new Promise((r) => redis.once('ready', r));
    const { app, scheduler, clock } = await setup(new RedisScheduleStore({ redis }, { prefix: 'api' }));
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    const post = (id: string) =>
      fetch(`${base}/v1/conferences`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ id, expectedParticipants: 1 }),
      });
    expect((await post('s1')).status).toBe(201);
    expect((await post('s1')).status).toBe(409);
    expect((await fetch(`${base}/v1/conferences/zz`)).status).toBe(404);
    const bad = await fetch(`${base}/v1/conferences`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: '{"id":',
    });
    expect(bad.status).toBe(400);
    expect(
      (
        await fetch(`${base}/v1/conferences`, {
          method: 'POST',
          body: '{}',
          headers: { 'content-type': 'application/json' },
        })
      ).status,
    ).toBe(401);

    await redisServer.kill();
    const down = await post('s2');
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBe('1');
    expect(((await down.json()) as { error: string }).error).toBe('SCH_ERR_STORE_UNAVAILABLE');
    await clock.advanceAsync(100);
    await scheduler.runRound();
    const h = await fetch(`${base}/healthz`);
    expect(h.status).toBe(503);
    expect(((await h.json()) as { store: string }).store).toBe('unreachable');

    await redisServer.restart();
    await new Promise((r) => (redis.status === 'ready' ? r(undefined) : redis.once('ready', r)));
    expect((await post('s3')).status).toBe(201);
    await clock.advanceAsync(100);
    await scheduler.runRound();
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    await app.close();
    await scheduler.stop();
    redis.disconnect();
  });

  it('oversized headers (431) and a malformed request line (400) are answered in the SCH_ERR format', async () => {
    const { app, scheduler } = await setup();
    const base = new URL(await app.listen({ port: 0, host: '127.0.0.1' }));
    const raw = (text: string) =>
      new Promise<string>((resolve, reject) => {
        const sock = net.connect(Number(base.port), base.hostname, () => sock.write(text));
        let buf = '';
        sock.on('data', (d) => (buf += d.toString()));
        sock.on('end', () => resolve(buf));
        sock.on('error', reject);
      });
    const big = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(big).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse(big.slice(big.indexOf('\r\n\r\n') + 4))).toMatchObject({
      error: 'SCH_ERR_HEADERS_TOO_LARGE',
    });
    const bad = await raw('GARBAGE\r\n\r\n');
    expect(bad).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(bad.slice(bad.indexOf('\r\n\r\n') + 4))).toMatchObject({
      error: 'SCH_ERR_BAD_REQUEST',
    });
    await app.close();
    await scheduler.stop();
  });
});
