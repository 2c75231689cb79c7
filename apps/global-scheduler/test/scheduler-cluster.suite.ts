/**
 * Several in-process schedulers sharing one real Redis backend: shares, exactly-once placement, capacity, claim
 * leases of a crashed scheduler, keep-alive moves. One suite, run unchanged on a single Redis
 * (scheduler-cluster.test.ts) and on a real Redis Cluster (scheduler-redis-cluster.slow.test.ts).
 * Time is a ManualClock; conference servers answer probes over real HTTP sockets.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { Cluster, Redis } from 'ioredis';
import { ManualClock } from '@switchyard/core';
import { Scheduler } from '../src/scheduler.js';
import { SchedulerTestProfile } from '../src/settings.js';
import { RedisScheduleStore } from '../src/store/redis-schedule-store.js';
import type { ShareReport } from '../src/store/schedule-store.js';
import { MemoryRegistryStore } from '@switchyard/registry';

export interface RedisBackend {
  /** The connection the schedulers share (set up by the caller's beforeAll). */
  shared(): Redis | Cluster;
  /** A new connection (closed by the test). */
  connect(): Redis | Cluster;
}

let prefixN = 0;

async function healthServer(listenPort = 0): Promise<{ url: string; close: () => Promise<void> }> {
  const srv = http.createServer((_, res) => res.end('ok'));
  await new Promise<void>((r) => srv.listen(listenPort, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/healthz`,
    close: () =>
      new Promise((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

async function cluster(backend: RedisBackend, n: number) {
  const clock = new ManualClock(1_700_000_000_000);
  const registry = new MemoryRegistryStore({ clock });
  await registry.start();
  const prefix = `c${prefixN++}`;
  const store = new RedisScheduleStore({ redis: backend.shared() }, { prefix });
  const schedulers = Array.from(
    { length: n },
    (_, i) =>
      new Scheduler(
        {
          store: new RedisScheduleStore({ redis: backend.shared() }, { prefix }),
          registry,

          clock,
        },
        { ...SchedulerTestProfile, id: `sched-${i}`, address: `127.0.0.1:${9000 + i}`, timers: false },
      ),
  );
  for (const s of schedulers) await s.start();
  const reports: ShareReport[] = [];
  const round = async (list = schedulers) => {
    await clock.advanceAsync(SchedulerTestProfile.roundIntervalMs);
    await Promise.all(list.map((s) => s.runRound()));
    for (const s of list) if (s.lastShare && s.lastShare.at === clock.now()) reports.push(s.lastShare);
  };
  return { clock, registry, store, schedulers, round, reports };
}

export function schedulerClusterSuite(name: string, backend: RedisBackend): void {
  describe(`scheduler cluster on ${name}`, () => {
    it('3 schedulers place 1,000 conferences exactly once, within capacity, shares within 1 of total/N', async () => {
      const { registry, store, schedulers, round, reports } = await cluster(backend, 3);
      for (let i = 0; i < 10; i++)
        await registry.put({
          id: `srv-${i}`,
          service: 'conference-server',
          address: `127.0.0.1:${7000 + i}`,
          region: 'eu',
          capacity: 260,
          ttlMs: 3_600_000,
        });
      const placedOn = new Map<string, string[]>();
      for (const s of schedulers)
        s.onPlacement((c, o) => {
          if (o.ok) placedOn.set(c.id, [...(placedOn.get(c.id) ?? []), o.assignment.serverId]);
        });
      // the first round sees servers after the feed delivered the snapshot
      await round();
      for (let i = 0; i < 1000; i++)
        await store.create({
          id: `conf-${i}`,
          region: 'eu',
          expectedParticipants: 1 + (i % 4),
          startAt: 1_700_000_000_000,
          durationS: 3600,
          createdAt: 0,
        });
      for (let r = 0; r < 30 && (await store.counts()).placed < 1000; r++) await round();
      expect(await store.counts()).toEqual({ pending: 0, claimed: 0, placed: 1000, unplaceable: 0 });
      expect(placedOn.size).toBe(1000);
      for (const [id, servers] of placedOn) expect(servers, id).toHaveLength(1);
      const res = await store.reservations();
      for (const r of res) expect(r.reserved).toBeLessThanOrEqual(260);
      expect(res.reduce((a, r) => a + r.reserved, 0)).toBe(2500);
      // per round: every share within 1 of total/N, and the shares of a round sum to its total
      const byRound = new Map<number, ShareReport[]>();
      for (const r of reports) byRound.set(r.round, [...(byRound.get(r.round) ?? []), r]);
      expect([...byRound.values()].some((rs) => rs[0]!.total > 0)).toBe(true);
      for (const rs of byRound.values()) {
        for (const r of rs) expect(Math.abs(r.share - r.total / r.n)).toBeLessThan(1);
        expect(rs.reduce((a, r) => a + r.share, 0)).toBe(rs[0]!.total);
      }
      // epochs are unique
      const epochs = new Set((await store.list(undefined, 2000)).items.map((c) => c.assignment!.epoch));
      expect(epochs.size).toBe(1000);
      for (const s of schedulers) await s.stop();
    });

    it("a crashed scheduler's claims return after their lease and the others take its share", async () => {
      const { clock, registry, store, schedulers, round } = await cluster(backend, 2);
      await registry.put({
        id: 'srv',
        service: 'conference-server',
        address: 'x',
        region: 'eu',
        capacity: 1000,
        ttlMs: 3_600_000,
      });
      await round();
      for (let i = 0; i < 10; i++)
        await store.create({
          id: `c${i}`,
          region: 'eu',
          expectedParticipants: 1,
          startAt: clock.now(),
          durationS: 3600,
          createdAt: 0,
        });
      // scheduler 1 "crashes" after claiming: its claims are taken through the store directly, then it is gone
      const dead = schedulers[1]!;
      const claimed = await store.claim(
        dead.id,
        5,
        clock.now() + 60_000,
        clock.now() + SchedulerTestProfile.claimLeaseMs,
      );
      expect(claimed).toHaveLength(5);
      await dead.stop(); // its lease record disappears like an expired one would
      const alive = [schedulers[0]!];
      await round(alive);
      expect((await store.counts()).claimed).toBe(5);
      for (let r = 0; r < 8; r++) await round(alive);
      expect(await store.counts()).toEqual({ pending: 0, claimed: 0, placed: 10, unplaceable: 0 });
      await schedulers[0]!.stop();
    });

    it('keep-alive: a server that stops answering has all its conferences moved, to servers with room', async () => {
      const { clock, registry, store, schedulers, round } = await cluster(backend, 2);
      const health = await Promise.all([0, 1, 2].map(() => healthServer()));
      for (let i = 0; i < 3; i++)
        await registry.put({
          id: `srv-${i}`,
          service: 'conference-server',
          address: `a${i}`,
          region: 'eu',
          capacity: 20,
          ttlMs: 3_600_000,
          meta: { probe: health[i]!.url },
        });
      await round();
      for (let i = 0; i < 30; i++)
        await store.create({
          id: `c${i}`,
          region: 'eu',
          expectedParticipants: 1,
          startAt: clock.now(),
          durationS: 3600,
          createdAt: 0,
        });
      for (let r = 0; r < 5; r++) await round();
      const onDead = await store.conferencesOn('srv-1');
      expect(onDead.length).toBe(10);
      const before = new Map(
        (await store.list(undefined, 100)).items.map((c) => [c.id, c.assignment!.epoch]),
      );
      await health[1]!.close();
      for (let p = 0; p < SchedulerTestProfile.misses; p++)
        await Promise.all(schedulers.map((s) => s.probeOnce()));
      expect(await store.downServers()).toEqual(['srv-1']);
      expect((await registry.get('conference-server', 'srv-1'))?.state).toBe('down');
      await round();
      expect(await store.conferencesOn('srv-1')).toEqual([]);
      const after = (await store.list(undefined, 100)).items;
      expect(after.every((c) => c.state === 'placed' && c.assignment!.serverId !== 'srv-1')).toBe(true);
      for (const id of onDead) {
        const c = after.find((x) => x.id === id)!;
        expect(c.assignment!.epoch).toBeGreaterThan(before.get(id)!);
        expect(c.assignment!.moves).toBe(1);
      }
      for (const r of await store.reservations()) expect(r.reserved).toBeLessThanOrEqual(20);
      // exactly one scheduler probes each server
      const owners = ['srv-0', 'srv-1', 'srv-2'].map((id) => schedulers.filter((s) => s.owns(id)).length);
      expect(owners).toEqual([1, 1, 1]);
      // the server comes back on the same address: the next probe clears the down mark, it is serving again
      const back = await healthServer(Number(new URL(health[1]!.url).port));
      await Promise.all(schedulers.map((s) => s.probeOnce()));
      expect(await store.downServers()).toEqual([]);
      expect((await registry.get('conference-server', 'srv-1'))?.state).toBe('serving');
      await store.create({
        id: 'late',
        region: 'eu',
        expectedParticipants: 1,
        startAt: clock.now(),
        durationS: 3600,
        createdAt: 0,
      });
      await round();
      expect((await store.get('late'))?.assignment?.serverId).toBe('srv-1'); // the least loaded again
      for (const s of schedulers) await s.stop();
      await Promise.all([health[0]!.close(), health[2]!.close(), back.close()]);
    });

    it('Lua atomicity: 4 connections claiming and placing at once never overfill a server nor place twice', async () => {
      const prefix = `race${prefixN++}`;
      const conns = Array.from({ length: 4 }, () => backend.connect());
      const stores = conns.map((c) => new RedisScheduleStore({ redis: c }, { prefix }));
      const T = 1_700_000_000_000;
      for (let i = 0; i < 200; i++)
        await stores[0]!.create({
          id: `r${i}`,
          region: 'eu',
          expectedParticipants: 1,
          startAt: T,
          durationS: 60,
          createdAt: T,
        });
      const cands = ['a', 'b', 'c'].map((id) => ({ id, address: id, capacity: 50, load: 0, tier: 0 }));
      const placed: string[] = [];
      await Promise.all(
        stores.map(async (s, i) => {
          for (let k = 0; k < 40; k++) {
            const got = await s.claim(`s${i}`, 7, T, T + 60_000);
            if (got.length === 0) break;
            for (const o of await s.place(`s${i}`, got, cands)) if (o.ok) placed.push(o.id);
          }
        }),
      );
      expect(placed).toHaveLength(150);
      expect(new Set(placed).size).toBe(150);
      expect((await stores[0]!.reservations()).map((r) => r.reserved)).toEqual([50, 50, 50]);
      const counts = await stores[0]!.counts();
      expect(counts.placed).toBe(150);
      expect(counts.unplaceable).toBe(50);
      expect(counts.pending + counts.claimed).toBe(0);
      for (const c of conns) c.disconnect();
    });
  });
}
