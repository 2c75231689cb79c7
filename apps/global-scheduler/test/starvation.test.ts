/**
 * No starvation (issue 12 §1): a conference no server can take backs off instead of being claimed again and again,
 * so every round makes progress on everything placeable; it is retried when capacity appears, and the API and
 * /metrics say why it waits. Two schedulers share one real Redis; time is a ManualClock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { flushEventLoop, ManualClock } from '@switchyard/core';
import { startRedis, type TestRedis } from '@switchyard/testing';
import { MemoryRegistryStore } from '@switchyard/registry';
import { buildApi } from '../src/api/api.js';
import { Scheduler } from '../src/scheduler.js';
import { SchedulerTestProfile } from '../src/settings.js';
import { RedisScheduleStore } from '../src/store/redis-schedule-store.js';

const TOKEN = 'starve-token-1';
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

async function setup() {
  const clock = new ManualClock(1_700_000_000_000);
  const registry = new MemoryRegistryStore({ clock });
  await registry.start();
  const prefix = `starve${n++}`;
  const store = new RedisScheduleStore({ redis }, { prefix });
  const schedulers = ['a', 'b'].map(
    (id) =>
      new Scheduler(
        { store: new RedisScheduleStore({ redis }, { prefix }), registry, clock },
        { ...SchedulerTestProfile, id, address: `127.0.0.1:${id === 'a' ? 1 : 2}`, timers: false },
      ),
  );
  for (const s of schedulers) await s.start();
  const api = await buildApi(
    { scheduler: schedulers[0]!, store, registry, clock },
    { token: TOKEN, region: 'eu' },
  );
  const round = async () => {
    await clock.advanceAsync(SchedulerTestProfile.roundIntervalMs);
    await Promise.all(schedulers.map((s) => s.runRound()));
  };
  const server = (id: string, capacity: number) =>
    registry.put({
      id,
      service: 'conference-server',
      address: `127.0.0.1:${5000 + capacity}`,
      region: 'eu',
      capacity,
      ttlMs: 3_600_000,
    });
  const create = (id: string, expectedParticipants: number) =>
    api.inject({
      method: 'POST',
      url: '/v1/conferences',
      headers: { authorization: `Bearer ${TOKEN}` },
      payload: { id, expectedParticipants },
    });
  const stop = async () => {
    for (const s of schedulers) await s.stop();
    await api.close();
  };
  return { clock, registry, store, schedulers, api, round, server, create, stop };
}

describe('unplaceable conferences back off', () => {
  it('a too-large conference does not starve a small one; both schedulers try it once, then it waits', async () => {
    const { store, schedulers, api, round, server, create, stop } = await setup();
    await server('srv-10', 10);
    await flushEventLoop();
    expect((await create('big', 100_000)).statusCode).toBe(201);
    expect((await create('small', 3)).statusCode).toBe(201);
    await round();
    expect((await store.get('small'))?.state).toBe('placed');
    const big = (await api.inject({ url: '/v1/conferences/big' })).json();
    expect(big).toMatchObject({ state: 'unplaceable', unplaceable: { reason: 'too-large', attempts: 1 } });
    // each conference was claimed once in the round: big did not go back to pending for the other scheduler
    expect(schedulers.map((s) => s.lastShare?.claimed)).toEqual([1, 1]);
    const listed = (await api.inject({ url: '/v1/unplaceable' })).json();
    expect(listed.counts).toEqual({ 'no-servers': 0, 'too-large': 1, 'no-room': 0 });
    expect(listed.items.map((c: { id: string }) => c.id)).toEqual(['big']);
    const metrics = (await api.inject({ url: '/metrics' })).body;
    expect(metrics).toContain('scheduler_unplaceable_conferences{reason="too-large"} 1');
    expect(metrics).toMatch(/scheduler_unplaceable_total\{reason="too-large"\} 1/);
    await stop();
  });

  it('70 pending and no room: every one is tried in the first round, and none twice in it', async () => {
    const { store, round, server, create, stop, schedulers } = await setup();
    await server('tiny', 1);
    await flushEventLoop();
    for (let i = 0; i < 70; i++) expect((await create(`c${i}`, 2)).statusCode).toBe(201);
    await round();
    const all = (await store.list(undefined, 100)).items;
    expect(all).toHaveLength(70);
    expect(all.every((c) => c.state === 'unplaceable' && c.unplaceable?.attempts === 1)).toBe(true);
    expect(schedulers.reduce((a, s) => a + s.lastShare!.claimed, 0)).toBe(70);
    // backing off, doubling: retried at the next round (100 ms), then after two (200 ms), each once per try
    const attempts = async () =>
      new Set((await store.list(undefined, 100)).items.map((c) => c.unplaceable?.attempts));
    await round();
    expect(await attempts()).toEqual(new Set([2]));
    await round();
    expect(await attempts()).toEqual(new Set([2]));
    await round();
    expect(await attempts()).toEqual(new Set([3]));
    await stop();
  });

  it('retried as soon as capacity appears (a server joins), not after the back-off', async () => {
    const { clock, store, registry, round, server, create, stop } = await setup();
    await server('srv-10', 10);
    await flushEventLoop();
    await create('big', 50);
    for (let i = 0; i < 4; i++) await round(); // back-off grows: 100, 200, 400 ms …
    const before = (await store.get('big'))!;
    expect(before.state).toBe('unplaceable');
    // its back-off now outlasts the next round: being placed at the next round is the wake's doing
    expect(before.unplaceable!.retryAt).toBeGreaterThan(clock.now() + SchedulerTestProfile.roundIntervalMs);
    await server('srv-60', 60);
    await flushEventLoop();
    await round(); // consumes the wake flag: back to pending, claimed and placed in the same round
    const after = (await store.get('big'))!;
    expect(after).toMatchObject({ state: 'placed', assignment: { serverId: 'srv-60' } });
    expect(after.unplaceable).toBeUndefined();
    // ending it frees room: a no-room conference waiting on a long back-off is retried at the next round
    await registry.update('conference-server', 'srv-60', { capacity: 50 });
    await create('fill', 10);
    await round();
    await create('waits', 45);
    await round();
    expect((await store.get('waits'))?.unplaceable?.reason).toBe('no-room');
    await store.end('big');
    await round();
    expect((await store.get('waits'))?.state).toBe('placed');
    await stop();
  });
});
