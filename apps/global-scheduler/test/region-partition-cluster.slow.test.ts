/**
 * Region-partitioned schedule on a real Redis Cluster (3 masters + 3 replicas on loopback): each region's keys
 * under their own hash tag land on the master that owns that slot (checked with CLUSTER KEYSLOT, CLUSTER SLOTS and
 * a direct read on that node), a conference whose region is full falls back to another region's shard through
 * reserve-then-commit, and a scheduler that dies between RESERVE and COMMIT (or stalls there and resumes late)
 * leaves nothing placed twice and no server over capacity once the reconciler has run.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { ManualClock, systemClock } from '@switchyard/core';
import { MemoryRegistryStore, RedisRegistryStore } from '@switchyard/registry';
import {
  redisCli,
  spawnProcess,
  startRedisCluster,
  waitFor,
  type Spawned,
  type TestRedisCluster,
} from '@switchyard/testing';
import { Scheduler } from '../src/scheduler.js';
import { SchedulerTestProfile } from '../src/settings.js';
import { RegionPartitionedStore } from '../src/store/region-partitioned-store.js';
import type { Candidate, ConferenceRequest } from '../src/store/schedule-store.js';
import { conference } from './requests.js';

let cluster: TestRedisCluster;
const opened: Cluster[] = [];
/** Three region names whose partitions land on three different masters (found at start). */
let regions: string[] = [];
let prefixN = 0;

function connect(): Cluster {
  const c = new Cluster([...cluster.seeds], {
    clusterRetryStrategy: () => 100,
    redisOptions: { maxRetriesPerRequest: 1 },
    slotsRefreshInterval: 1000,
  });
  c.on('error', () => undefined);
  opened.push(c);
  return c;
}

const tagKey = (prefix: string, region: string) => `{${prefix}:sched:${region}}:conf`;

beforeAll(async () => {
  cluster = await startRedisCluster({ host: '127.0.0.1' });
  // region names are the operator's; which slot a name hashes to is CRC16's: take the first name per master
  const byMaster = new Map<number, string>();
  for (const r of ['eu', 'us', 'ap', 'sa', 'af', 'me', 'oc', 'cn', 'in', 'jp', 'au', 'ca', 'br', 'za']) {
    const m = await cluster.masterOf(tagKey('rp', r));
    if (!byMaster.has(m.port)) byMaster.set(m.port, r);
    if (byMaster.size === 3) break;
  }
  regions = [...byMaster.values()];
}, 120_000);
afterAll(async () => {
  for (const c of opened) c.disconnect();
  await cluster?.stop();
});

async function setup(
  servers: { id: string; region: string; capacity: number }[],
  fallbacks: string,
  prefix = `rp${prefixN++}`,
) {
  const clock = new ManualClock(1_700_000_000_000);
  const registry = new MemoryRegistryStore({ clock });
  await registry.start();
  const redis = connect();
  const store = new RegionPartitionedStore({ redis }, { prefix, regions, reserveTtlMs: 2000 });
  for (const s of servers)
    await registry.put({
      id: s.id,
      service: 'conference-server',
      address: `127.0.0.1:${7100 + servers.indexOf(s)}`,
      region: s.region,
      capacity: s.capacity,
      ttlMs: 3_600_000,
    });
  const schedulers = ['a', 'b', 'c'].map(
    (id, i) =>
      new Scheduler(
        {
          store: new RegionPartitionedStore({ redis }, { prefix, regions, reserveTtlMs: 2000 }),
          registry,
          clock,
        },
        {
          ...SchedulerTestProfile,
          id: `rp-${id}`,
          address: `127.0.0.1:${9100 + i}`,
          timers: false,
          fallbacks,
          fallbackAnyRegion: false,
        },
      ),
  );
  for (const s of schedulers) await s.start();
  const round = async () => {
    await clock.advanceAsync(SchedulerTestProfile.roundIntervalMs);
    await Promise.all(schedulers.map((s) => s.runRound()));
  };
  return { clock, registry, prefix, redis, store, schedulers, round };
}

/** Every conference placed at most once, every server within capacity, reservations equal to what is placed. */
async function checkInvariants(
  store: RegionPartitionedStore,
  capacity: Map<string, number>,
  total: number,
): Promise<{ placed: Map<string, string>; bySrv: Map<string, number> }> {
  const rows = (await store.list(undefined, 10 * total)).items;
  expect(rows.length).toBe(total);
  const ids = new Set(rows.map((r) => r.id));
  expect(ids.size).toBe(total);
  const placed = new Map<string, string>();
  const bySrv = new Map<string, number>();
  for (const r of rows)
    if (r.state === 'placed') {
      placed.set(r.id, r.assignment!.serverId);
      bySrv.set(r.assignment!.serverId, (bySrv.get(r.assignment!.serverId) ?? 0) + r.expectedParticipants);
    }
  for (const [srv, units] of bySrv)
    expect(units, `${srv} over capacity`).toBeLessThanOrEqual(capacity.get(srv)!);
  for (const res of await store.reservations()) {
    expect(res.reserved, `reservation of ${res.serverId}`).toBe(bySrv.get(res.serverId) ?? 0);
    expect(res.reserved).toBeLessThanOrEqual(capacity.get(res.serverId)!);
  }
  return { placed, bySrv };
}

describe('region-partitioned schedule on Redis Cluster', () => {
  it('puts each region on the master that owns its hash tag: three regions, three shards', async () => {
    expect(regions).toHaveLength(3);
    // the prefix the region names were chosen for (the tag is `{rp:sched:<region>}`)
    const { store, schedulers, redis } = await setup([], '', 'rp');
    const masters = new Set<number>();
    for (const [i, r] of regions.entries()) {
      const part = store.partitions.get(r)!;
      expect(part.hashTag).toBe(`{${store.partitions.get('')!.hashTag.slice(1, -7)}:sched:${r}}`);
      const key = `${part.hashTag}:conf`;
      const slot = Number(
        (await redisCli(cluster.nodes[0]!.port, '127.0.0.1', 'cluster', 'keyslot', key)).trim(),
      );
      const owner = await cluster.masterOf(key);
      masters.add(owner.port);
      await store.create(conference(`conf-${r}-${i}`, 1_700_000_000_000, { region: r }));
      // the conference is on that node: read it there directly (no cluster redirection)
      expect((await redisCli(owner.port, '127.0.0.1', 'hlen', key)).trim()).toBe('1');
      expect(
        (await redisCli(owner.port, '127.0.0.1', 'cluster', 'countkeysinslot', String(slot))).trim(),
      ).not.toBe('0');
    }
    expect(masters.size).toBe(3);
    for (const s of schedulers) await s.stop();
    expect(redis.status).toBe('ready');
  }, 60_000);

  it('places in the region first and falls back to another region when it is full: once each, within capacity', async () => {
    const [home, away] = regions as [string, string];
    const servers = [
      { id: 'h1', region: home, capacity: 10 },
      { id: 'h2', region: home, capacity: 10 },
      { id: 'w1', region: away, capacity: 100 },
      { id: 'w2', region: away, capacity: 100 },
    ];
    const capacity = new Map(servers.map((s) => [s.id, s.capacity]));
    const { store, schedulers, round, clock } = await setup(servers, `${home}=${away}`);
    const successes = new Map<string, number>();
    for (const s of schedulers)
      s.onPlacement((c, o) => {
        if (o.ok) successes.set(c.id, (successes.get(c.id) ?? 0) + 1);
      });
    const N = 60;
    for (let i = 0; i < N; i++)
      await store.create(conference(`h-${i}`, clock.now(), { region: home, expectedParticipants: 2 }));
    for (let i = 0; i < 20; i++)
      await store.create(conference(`w-${i}`, clock.now(), { region: away, expectedParticipants: 2 }));
    for (let r = 0; r < 40 && (await store.counts()).placed < N + 20; r++) await round();
    const { placed, bySrv } = await checkInvariants(store, capacity, N + 20);
    expect(placed.size).toBe(N + 20);
    // the home region is full (20 of 20 units), the other 50 home conferences went to the other region's servers
    expect((bySrv.get('h1') ?? 0) + (bySrv.get('h2') ?? 0)).toBe(20);
    expect([...placed].filter(([id, srv]) => id.startsWith('h-') && srv.startsWith('w')).length).toBe(50);
    // each placement acknowledged once to a scheduler
    expect([...successes.values()].every((n) => n === 1)).toBe(true);
    expect(successes.size).toBe(N + 20);
    // the cross-region reservations are confirmed on the other region's shard, one per fallen-back conference
    const foreign = await store.partitions.get(away)!.foreignAll(1000);
    expect(foreign.filter((f) => f.state === 'confirmed')).toHaveLength(50);
    // ending one frees its reservation on the other shard at once
    const fallen = [...placed].find(([id, srv]) => id.startsWith('h-') && srv.startsWith('w'))!;
    expect(await store.end(fallen[0])).toBe(true);
    await checkInvariants(store, capacity, N + 20 - 1);
    for (const s of schedulers) await s.stop();
  }, 120_000);

  it('a scheduler dead between RESERVE and COMMIT leaves nothing placed twice; its reservation is freed', async () => {
    const [home, away] = regions as [string, string];
    const servers = [
      { id: 'h1', region: home, capacity: 4 },
      { id: 'w1', region: away, capacity: 10 },
    ];
    const capacity = new Map(servers.map((s) => [s.id, s.capacity]));
    const { store, schedulers, round, clock, prefix, redis } = await setup(servers, `${home}=${away}`);
    const cands: Candidate[] = [
      { id: 'h1', address: '127.0.0.1:7100', capacity: 4, load: 0, tier: 0, region: home },
      { id: 'w1', address: '127.0.0.1:7101', capacity: 10, load: 0, tier: 1, region: away },
    ];
    // the dying scheduler: its process is gone right after RESERVE (nothing after it runs)
    const dead = new RegionPartitionedStore(
      { redis },
      {
        prefix,
        regions,
        reserveTtlMs: 2000,
        afterReserve: () => {
          throw new Error('killed between RESERVE and COMMIT');
        },
      },
    );
    const confs: ConferenceRequest[] = [];
    for (let i = 0; i < 6; i++) {
      confs.push(conference(`k-${i}`, clock.now(), { region: home, expectedParticipants: 2 }));
      await store.create(confs[i]!);
    }
    const claimed = await dead.claim(
      'dead',
      6,
      clock.now() + 1000,
      clock.now() + SchedulerTestProfile.claimLeaseMs,
    );
    expect(claimed).toHaveLength(6);
    await expect(dead.place('dead', claimed, cands, { now: clock.now() })).rejects.toThrow('killed between');
    // the state it left: 2 placed at home (h1 full), 4 reserved unconfirmed on the other shard, still claimed
    const stranded = await store.partitions.get(away)!.foreignAll(100);
    expect(stranded.map((f) => f.state)).toEqual(['reserved', 'reserved', 'reserved', 'reserved']);
    expect((await store.reservations()).find((r) => r.serverId === 'w1')?.reserved).toBe(8);
    expect((await store.counts()).claimed).toBe(4);
    // the live schedulers carry on: the dead claims lapse, the reconciler settles the stranded reservations and the
    // conferences are placed again; the 8 units held by the dead reservations come back (10 units fit only 5)
    for (let r = 0; r < 60 && (await store.counts()).placed < 6; r++) await round();
    const { placed } = await checkInvariants(store, capacity, 6);
    expect(placed.size).toBe(6);
    expect((await store.partitions.get(away)!.foreignAll(100)).map((f) => f.state)).toEqual([
      'confirmed',
      'confirmed',
      'confirmed',
      'confirmed',
    ]);
    for (const s of schedulers) await s.stop();
  }, 120_000);

  it('a scheduler that stalls between RESERVE and COMMIT past its deadline cannot commit afterwards (fenced)', async () => {
    const [home, away] = regions as [string, string];
    const servers = [{ id: 'w1', region: away, capacity: 2 }];
    const capacity = new Map(servers.map((s) => [s.id, s.capacity]));
    const { store, schedulers, round, clock, prefix, redis } = await setup(servers, `${home}=${away}`);
    let resume!: () => void;
    const stalled = new Promise<void>((r) => (resume = r));
    let reserved!: () => void;
    const reservedNow = new Promise<void>((r) => (reserved = r));
    const slow = new RegionPartitionedStore(
      { redis },
      {
        prefix,
        regions,
        reserveTtlMs: 2000,
        afterReserve: async () => {
          reserved();
          await stalled;
        },
      },
    );
    await store.create(conference('s-0', clock.now(), { region: home, expectedParticipants: 2 }));
    const claimed = await slow.claim(
      'slow',
      1,
      clock.now() + 1000,
      clock.now() + SchedulerTestProfile.claimLeaseMs,
    );
    const w1: Candidate = {
      id: 'w1',
      address: '127.0.0.1:7100',
      capacity: 2,
      load: 0,
      tier: 1,
      region: away,
    };
    const late = slow.place('slow', claimed, [w1], { now: clock.now() });
    await reservedNow;
    // meanwhile its claim lapses, the reconciler fences its token and frees w1, another scheduler places s-0
    for (let r = 0; r < 60 && (await store.counts()).placed < 1; r++) await round();
    expect((await store.get('s-0'))?.state).toBe('placed');
    resume();
    // the stalled commit is refused: its token was fenced (and its claim is gone)
    expect(await late).toEqual([{ id: 's-0', ok: false, reason: 'claim-lost' }]);
    await checkInvariants(store, capacity, 1);
    const held = await store.partitions.get(away)!.foreignAll(100);
    expect(held).toHaveLength(1);
    expect(held[0]!.state).toBe('confirmed');
    for (const s of schedulers) await s.stop();
  }, 120_000);
});

const MAIN = path.resolve(import.meta.dirname, '../dist/main.js');

describe('region-partitioned schedule: kill -9 of a scheduler process between RESERVE and COMMIT', () => {
  it('nothing is placed twice, no server goes over capacity, the survivor places everything once', async () => {
    const [home, away] = regions as [string, string];
    const prefix = `rpk${prefixN++}`;
    const redis = connect();
    const registry = new RedisRegistryStore({ redis: connect(), clock: systemClock }, { prefix });
    await registry.start();
    // the conference servers answer keep-alive probes over HTTP (a real socket), so nobody marks them down
    const srv = http.createServer((_, res) => res.end('ok'));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const probe = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/healthz`;
    const capacity = new Map([
      ['h1', 2],
      ['w1', 10],
    ]);
    for (const [id, cap] of capacity)
      await registry.put({
        id,
        service: 'conference-server',
        address: `127.0.0.1:${id === 'h1' ? 7301 : 7302}`,
        region: id === 'h1' ? home : away,
        capacity: cap,
        ttlMs: 600_000,
        meta: { probe },
      });
    const store = new RegionPartitionedStore({ redis }, { prefix, regions });
    const now = Date.now();
    for (let i = 0; i < 3; i++)
      await store.create(conference(`p-${i}`, now, { region: home, expectedParticipants: 2 }));
    const procs: Spawned[] = [];
    const start = (id: string, extra: string[]) => {
      const p = spawnProcess(process.execPath, [
        MAIN,
        '--id',
        id,
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--redis-cluster',
        cluster.seeds.map((x) => `${x.host}:${x.port}`).join(','),
        '--prefix',
        prefix,
        '--token',
        'kill-test-token',
        '--region-partitions',
        regions.join(','),
        '--fallbacks',
        `${home}=${away}`,
        '--round-interval-ms',
        '100',
        '--claim-lease-ms',
        '1000',
        '--region-reserve-ttl-ms',
        '1500',
        ...extra,
      ]);
      procs.push(p);
      return p;
    };
    try {
      const victim = start('victim', ['--fault-pause-after-reserve']);
      await waitFor(
        'the victim scheduler to stop between RESERVE and COMMIT',
        () => (victim.output().includes('"fault":"paused-after-reserve"') ? true : undefined),
        { timeoutMs: 90_000, intervalMs: 50 },
      );
      await victim.kill9();
      // what it left: one placed at home (h1 holds 2 units), two reserved on the other region's shard, unconfirmed
      const left = await store.partitions.get(away)!.foreignAll(100);
      expect(left.map((f) => f.state)).toEqual(['reserved', 'reserved']);
      const states = (await store.list(undefined, 10)).items.map((c) => c.state).sort();
      expect(states).toEqual(['claimed', 'claimed', 'placed']);
      const survivor = start('survivor', []);
      await waitFor(
        'the survivor to place all 3 conferences',
        async () => ((await store.counts()).placed === 3 ? true : undefined),
        { timeoutMs: 90_000, intervalMs: 100 },
      );
      // the stranded reservations were released (or replaced), none left unconfirmed, the capacity exact
      await waitFor(
        'the cross-region reservations to be confirmed',
        async () => {
          const f = await store.partitions.get(away)!.foreignAll(100);
          return f.length === 2 && f.every((x) => x.state === 'confirmed') ? true : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      await checkInvariants(store, capacity, 3);
      await survivor.stop(5000);
    } finally {
      for (const p of procs) await p.stop(2000);
      await registry.stop();
      await new Promise<void>((r) => srv.close(() => r()));
    }
  }, 240_000);
});
