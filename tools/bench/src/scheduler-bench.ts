/**
 * Scheduler placement benchmark: placements/s and placement latency (p50/p99) with 1, 2 and 3 scheduler
 * processes against one Redis (`--backend single`) or a Redis Cluster of 3 masters + 3 replicas (`cluster`),
 * Redis commands per placement, and `redis-benchmark` on the same Redis in the same run as the reference limit.
 * Runs alternate ours and the baseline; figures are medians over `--runs`.
 *
 * Method: N scheduler processes (window 0) start on a fresh Redis; the bench registers the conference servers
 * itself (records with a long TTL whose keep-alive probe is an HTTP endpoint of this process, so no fleet process
 * competes for the cores). M conferences are created with one common `startAt` far enough ahead (from a measured
 * creation rate) that all are stored before it, so all become due at once: `--create direct` (default) writes them
 * with the schedule store's own CREATE script from this process (what the API does after validation: the HTTP API
 * is not what is measured, and on a loaded machine it made the set-up take minutes), `--create api` through the
 * schedulers' HTTP API as before. placements/s = M / (last placedAt − startAt);
 * latency of a conference = placedAt − startAt (includes the wait for the next round boundary and the queue of
 * the burst). Commands per placement = the schedulers' own Redis command counters (scheduler_redis_commands_total)
 * over the placement phase, minus their idle rate measured just before startAt, / M. Two variants: `publish`
 * (each assignment also put on the registry feed, the default) and `core` (--assignment-service '': the
 * schedule table only).
 *
 * Steady mode (`--mode steady`, or `both`): the same processes, but conferences are created at a steady `--rate`
 * per second for `--duration-s`, each due when it is created (`startAt` = the moment of the request), and the
 * latency from due to placed is reported as p50/p99 (rounds every `--steady-round-ms`, window 0: nothing is
 * placed ahead of time). `--quick` is a short smoke run of both modes (its figures mean nothing).
 *
 * Start-up: every process binds port 0 and reports its URL on a ready line; the scheduler processes start in
 * parallel, each with a bounded wait (`--ready-timeout-s`) that names the process that did not come up.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Cluster, Redis } from 'ioredis';
import { parseCli, systemClock, type CliSpec } from '@switchyard/core';
import { startFleetProcess, startSchedulerProcess } from '@switchyard/fleet-sim';
import {
  RedisScheduleStore,
  RegionPartitionedStore,
  type ConferenceRequest,
  type ScheduleStore,
} from '@switchyard/global-scheduler';
import {
  packageBin,
  startRedisCluster,
  startRedisServer,
  waitFor,
  type Spawned,
  type TestRedisCluster,
} from '@switchyard/launch';
import { RedisRegistryStore } from '@switchyard/registry';
import {
  measureStep,
  processCpuUs,
  startRedisCost,
  type CostTable,
  type StepCost,
} from './scheduler-cost.js';

const root = path.resolve(import.meta.dirname, '../../..');
const TOKEN = 'bench-token-0123';

const spec: CliSpec = {
  name: 'scheduler-bench',
  summary: 'scheduler placements/s and latency for 1..3 schedulers vs the redis-benchmark limit',
  options: {
    conferences: { type: 'string', doc: 'conferences per run', defaultText: '3000' },
    runs: { type: 'string', doc: 'repetitions (median reported)', defaultText: '3' },
    schedulers: { type: 'string', doc: 'scheduler counts to measure', defaultText: '1,2,3' },
    variants: {
      type: 'string',
      doc: 'publish (assignments on the feed) and/or core',
      defaultText: 'publish,core',
    },
    servers: { type: 'string', doc: 'simulated conference servers', defaultText: '50' },
    'round-ms': { type: 'string', doc: 'round interval of the schedulers', defaultText: '100' },
    'place-batch': { type: 'string', doc: 'conferences per PLACE script', defaultText: '200' },
    mode: {
      type: 'string',
      doc: 'burst, steady, both, or a comma list of those, failover (kill -9 of a server: time to move) and cost (Redis and caller CPU per placement of each step alone)',
      defaultText: 'burst',
    },
    backend: {
      type: 'string',
      doc: 'single (one redis-server) and/or cluster (3 masters + 3 replicas)',
      defaultText: 'single',
    },
    create: { type: 'string', doc: 'direct (the store CREATE script) or api (HTTP)', defaultText: 'direct' },
    'region-partitions': {
      type: 'string',
      doc: 'region partition counts to measure (comma list): 0 = one schedule (no partitions); k = regions r0…r(k-1), each its own partition (the schedulers get --region-partitions), conferences and servers spread evenly over them',
      defaultText: '0',
    },
    rate: { type: 'string', doc: 'steady mode: conferences created per second', defaultText: '1000' },
    'duration-s': { type: 'string', doc: 'steady mode: seconds of load', defaultText: '10' },
    'steady-round-ms': { type: 'string', doc: 'steady mode: round interval', defaultText: '20' },
    'ready-timeout-s': {
      type: 'string',
      doc: 'bound on each process start (a loaded machine needs more)',
      defaultText: '90',
    },
    slowlog: {
      type: 'boolean',
      doc: "burst runs record every command in Redis's SLOWLOG (threshold 0) to name each script's time; off by default: it costs Redis CPU itself (every command's arguments copied, script-inner ones included), which lowers the placements/s it measures",
    },
    quick: { type: 'boolean', doc: 'a short smoke run of both modes (figures meaningless)' },
    out: {
      type: 'string',
      doc: 'directory for scheduler.json and scheduler.md',
      defaultText: 'docs/benchmarks',
    },
  },
  examples: [
    'node tools/bench/dist/main.js scheduler --conferences 3000 --runs 3',
    'node tools/bench/dist/main.js scheduler --schedulers 3 --variants publish --runs 3 --mode both --duration-s 3 --backend single,cluster',
    'node tools/bench/dist/main.js scheduler --mode steady --rate 1000 --duration-s 10 --schedulers 3 --variants publish',
  ],
};

type Variant = 'publish' | 'core';
type BackendKind = 'single' | 'cluster';

/** The Redis under test: one redis-server or a Redis Cluster, with a client for the bench's own writes. */
interface Backend {
  kind: BackendKind;
  /** Flags that point a scheduler process at it. */
  args: string[];
  /** `redis://…` of one node (the schedulers take `--redis-cluster` over it in cluster mode). */
  url: string;
  client: Redis | Cluster;
  redisBenchmark(requests: number): RedisBench;
  stop(): Promise<void>;
}

async function startBackend(kind: BackendKind): Promise<Backend> {
  if (kind === 'single') {
    const redis = await startRedisServer();
    const client = new Redis(redis.port, redis.host);
    return {
      kind,
      args: [],
      url: redis.url,
      client,
      redisBenchmark: (n) => redisBenchmark(redis.host, redis.port, n, false),
      stop: async () => {
        client.disconnect();
        await redis.stop();
      },
    };
  }
  const cluster: TestRedisCluster = await startRedisCluster({ host: '127.0.0.1' });
  const client = new Cluster([...cluster.seeds], { slotsRefreshInterval: 1000 });
  const first = cluster.seeds[0]!;
  return {
    kind,
    args: ['--redis-cluster', cluster.seeds.map((x) => `${x.host}:${x.port}`).join(',')],
    url: `redis://${first.host}:${first.port}`,
    client,
    redisBenchmark: (n) => redisBenchmark(first.host, first.port, n, true),
    stop: async () => {
      client.disconnect();
      await cluster.stop();
    },
  };
}

interface RunResult {
  backend: BackendKind;
  variant: Variant;
  schedulers: number;
  /** Region partitions (0 = one schedule). */
  partitions: number;
  conferences: number;
  placementsPerS: number;
  p50Ms: number;
  p99Ms: number;
  commandsPerPlacement: number;
  grossCommandsPerPlacement: number;
  idleCommandsPerS: number;
  createPerS: number;
  /** CPU µs of the Redis server(s) per placement over the burst (gross: idle traffic and the bench's polling in). */
  redisCpuUsPerPlacement: number;
  /** CPU µs of all scheduler processes together per placement over the burst (gross). */
  schedulerCpuUsPerPlacement: number;
  /**
   * The same less their idle CPU rate (rounds with nothing to claim, heartbeats, probes) measured just before the
   * burst: what the placements themselves cost. A burst that drains slowly on a loaded machine carries that much
   * more idle time in the gross figure.
   */
  schedulerNetCpuUsPerPlacement: number;
  /** CPU ms per second of all scheduler processes together, idle, just before the burst. */
  schedulerIdleCpuMsPerS: number;
  /** Redis's own µs and calls per placement, per top-level command or script (SLOWLOG at threshold 0). */
  redisScripts: CostTable;
  /** The same per command, inner calls of scripts included (INFO commandstats). */
  redisCommands: CostTable;
  slowlogComplete: boolean;
  loadAverage: number;
  valid: boolean;
}

/** A cost table divided by the number of placements (calls and µs per placement). */
function perPlacement(t: CostTable, m: number): CostTable {
  return Object.fromEntries(
    Object.entries(t)
      .sort((a, b) => b[1].us - a[1].us)
      .map(([k, v]) => [k, { calls: Number((v.calls / m).toFixed(4)), us: Number((v.us / m).toFixed(3)) }]),
  );
}

interface RedisBench {
  getPerS: number;
  setPerS: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function progress(msg: string): void {
  process.stderr.write(`\r\u001b[2K[scheduler-bench] ${msg}`);
}

async function startScheduler(
  redis: Backend,
  prefix: string,
  id: string,
  o: Options,
  variant: Variant,
  roundMs = o.roundMs,
  extra: string[] = [],
): Promise<{ proc: Spawned; url: string }> {
  const args = [
    ...redis.args,
    '--round-interval-ms',
    String(roundMs),
    '--window-ms',
    '0',
    '--place-batch',
    String(o.batch),
    // the servers answer every probe; a probe timeout on a loaded machine must not move conferences mid-run
    '--probe-timeout-ms',
    '5000',
  ];
  if (variant === 'core') args.push('--assignment-service=');
  args.push(...extra);
  try {
    return await startSchedulerProcess({
      id,
      redisUrl: redis.url,
      prefix,
      token: TOKEN,
      args,
      readyTimeoutMs: o.readyTimeoutS * 1000,
    });
  } catch (err) {
    throw new Error(
      `scheduler process ${id} did not report ready within ${o.readyTimeoutS} s (load average ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')}; raise --ready-timeout-s on a loaded machine): ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** Starts n scheduler processes at once (each bounded), stopping those that started if one did not. */
async function startSchedulers(
  redis: Backend,
  prefix: string,
  n: number,
  o: Options,
  variant: Variant,
  roundMs?: number,
  extra: string[] = [],
): Promise<{ proc: Spawned; url: string }[]> {
  const started = await Promise.allSettled(
    Array.from({ length: n }, (_, i) =>
      startScheduler(redis, prefix, `${prefix}-s${i}`, o, variant, roundMs, extra),
    ),
  );
  const ok = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.all(ok.map((s) => s.proc.stop()));
    throw failed.reason;
  }
  return ok;
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

function request(id: string, startAt: number, region = 'default'): ConferenceRequest {
  return { id, region, expectedParticipants: 1, startAt, durationS: 3600, createdAt: Date.now() };
}

/** The region of the i-th conference or server with k region partitions (k = 0: one schedule, region 'default'). */
const regionOf = (i: number, k: number): string => (k ? `r${i % k}` : 'default');
/** The regions of k partitions, as the schedulers' --region-partitions takes them. */
const partitionRegions = (k: number): string[] => Array.from({ length: k }, (_, i) => `r${i}`);

/** The bench's own view of the schedule (create, counts, list): as the schedulers see it. */
function storeFor(redis: Backend, prefix: string, k: number): ScheduleStore {
  return k
    ? new RegionPartitionedStore({ redis: redis.client }, { prefix, regions: partitionRegions(k) })
    : new RedisScheduleStore({ redis: redis.client }, { prefix });
}

/** Creates the conferences with the store's CREATE script from this process, 500 in flight (ioredis pipelines). */
async function createDirect(store: ScheduleStore, ids: string[], startAt: number, k: number): Promise<void> {
  for (let i = 0; i < ids.length; i += 500)
    await Promise.all(
      ids.slice(i, i + 500).map((id, j) => store.create(request(id, startAt, regionOf(i + j, k)))),
    );
}

async function create(urls: string[], ids: string[], startAt: number, k: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (;;) {
        const i = next++;
        if (i >= ids.length) return;
        const r = await fetch(`${urls[i % urls.length]}/v1/conferences`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            id: ids[i],
            expectedParticipants: 1,
            startAt,
            durationS: 3600,
            region: regionOf(i, k),
          }),
        });
        if (r.status !== 201) throw new Error(`create ${ids[i]}: HTTP ${r.status}`);
        await r.arrayBuffer();
      }
    }),
  );
}

interface Options {
  readyTimeoutS: number;
  create: 'direct' | 'api';
  m: number;
  runs: number;
  counts: number[];
  variants: Variant[];
  nServers: number;
  roundMs: number;
  batch: number;
  /** Region partition counts to measure (0 = none). */
  partitions: number[];
  /** Burst runs record every command in SLOWLOG (names the scripts; costs Redis CPU itself). */
  slowlog: boolean;
}

interface SteadyOptions {
  rate: number;
  durationS: number;
  roundMs: number;
}

interface SteadyResult {
  backend: BackendKind;
  variant: Variant;
  schedulers: number;
  partitions: number;
  rate: number;
  offered: number;
  /** Create requests that failed (connection reset or refused under load, or not 201); not in the latencies. */
  failedCreates: number;
  /** Conferences actually created per second (the load generator may fall short of the rate). */
  achievedRate: number;
  placed: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/**
 * Steady load: `rate` conferences per second, each due at the moment it is created; latency = placedAt − startAt
 * (both on this machine's clock). The requests go out on a fixed schedule (ticks of 10 ms), so a slow answer does
 * not lower the offered rate; if the generator cannot keep up, the achieved rate says so.
 */
async function steadyRun(
  redis: Backend,
  n: number,
  variant: Variant,
  o: Options,
  s: SteadyOptions,
  tag: string,
  k = 0,
): Promise<SteadyResult> {
  const rig = await startRig(redis, `s${tag}`, n, o, variant, s.roundMs, [], k);
  try {
    const urls = rig.urls;
    const store = rig.store;
    const total = Math.round(s.rate * s.durationS);
    const inflight: Promise<void>[] = [];
    const t0 = Date.now();
    let sent = 0;
    let created = 0;
    let failed = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * s.rate));
      for (; sent < due; sent++) {
        const id = `st${sent}`;
        const at = Date.now();
        const sending =
          o.create === 'direct'
            ? store.create(request(id, at, regionOf(sent, k))).then(() => 201)
            : fetch(`${urls[sent % urls.length]}/v1/conferences`, {
                method: 'POST',
                headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
                body: JSON.stringify({
                  id,
                  expectedParticipants: 1,
                  startAt: at,
                  durationS: 3600,
                  region: regionOf(sent, k),
                }),
              }).then(async (r) => {
                await r.arrayBuffer();
                return r.status;
              });
        inflight.push(
          sending
            .then((status) => {
              if (status === 201) created++;
              else failed++;
            })
            // a refused or reset connection on a loaded machine: counted, not fatal (and never unhandled)
            .catch(() => {
              failed++;
            }),
        );
      }
      await sleep(10);
    }
    await Promise.all(inflight);
    const achievedRate = total / ((Date.now() - t0) / 1000);
    await waitFor(`${created} placed (steady)`, async () => (await store.counts()).placed === created, {
      timeoutMs: 120_000,
      intervalMs: 100,
    });
    const latencies = (await listConferences(store)).flatMap((c) =>
      c.assignment ? [Math.max(0, c.assignment.placedAt - c.startAt)] : [],
    );
    return {
      backend: redis.kind,
      variant,
      schedulers: n,
      partitions: k,
      rate: s.rate,
      offered: total,
      failedCreates: failed,
      achievedRate: Math.round(achievedRate),
      placed: latencies.length,
      p50Ms: pct(latencies, 50),
      p99Ms: pct(latencies, 99),
      maxMs: Math.max(...latencies),
    };
  } finally {
    await rig.stop();
  }
}

/** Keep-alive timers of the failover mode (the fleet-sim cluster test's, before it stopped asserting durations). */
const FAILOVER = { probeMs: 250, misses: 3, probeTimeoutMs: 400, roundMs: 200, conferences: 300 };

interface FailoverResult {
  backend: BackendKind;
  /** Conferences the killed server held. */
  onKilled: number;
  /** From `kill -9` of the server's agent to every one of its conferences placed elsewhere. */
  moveMs: number;
  /** The design bound: misses × probe interval + a probe timeout + a round. */
  boundMs: number;
}

/**
 * Failover: 3 schedulers, the bench's servers plus one real agent (a fleet-sim process); 300 conferences placed;
 * `kill -9` of the agent; the time until all of its conferences are placed on other servers (polled every 10 ms
 * from the store). The figure the fleet-sim cluster test printed (it no longer asserts it).
 */
async function failoverRun(redis: Backend, o: Options, tag: string): Promise<FailoverResult> {
  const prefix = `f${tag}`;
  const solo = await startFleetProcess({
    redisUrl: redis.url,
    prefix,
    count: 1,
    capacity: 100_000,
    readyTimeoutMs: o.readyTimeoutS * 1000,
    // a lease that survives a loaded machine's late heartbeats: a lapsed record is no candidate, and then the
    // killed server would hold nothing
    args: ['--id-prefix', 'solo-', '--ttl-ms', '5000', '--heartbeat-ms', '500'],
  });
  let rig: Awaited<ReturnType<typeof startRig>> | undefined;
  try {
    rig = await startRig(redis, prefix, 3, { ...o, nServers: 5 }, 'publish', FAILOVER.roundMs, [
      '--probe-interval-ms',
      String(FAILOVER.probeMs),
      '--misses',
      String(FAILOVER.misses),
      '--probe-timeout-ms',
      String(FAILOVER.probeTimeoutMs),
    ]);
    const store = rig.store;
    await createDirect(
      store,
      Array.from({ length: FAILOVER.conferences }, (_, i) => `fo${i}`),
      Date.now(),
      0,
    );
    await waitFor(
      'failover: all placed',
      async () => (await store.counts()).placed === FAILOVER.conferences,
      {
        timeoutMs: 120_000,
        intervalMs: 50,
      },
    );
    const onKilled = (await store.conferencesOn('solo-0')).length;
    await solo.kill9();
    const t0 = Date.now();
    await waitFor(
      'failover: the killed server emptied and everything placed again',
      async () =>
        (await store.conferencesOn('solo-0')).length === 0 &&
        (await store.counts()).placed === FAILOVER.conferences,
      { timeoutMs: 120_000, intervalMs: 10 },
    );
    return {
      backend: redis.kind,
      onKilled,
      moveMs: Date.now() - t0,
      boundMs: FAILOVER.probeMs * FAILOVER.misses + FAILOVER.probeTimeoutMs + FAILOVER.roundMs,
    };
  } finally {
    await rig?.stop();
    await solo.stop();
  }
}

/**
 * Cost mode: the steps of a placement run alone from this process on the Redis under test (nothing else on it),
 * as 3 schedulers would run them — CREATE, CLAIM (a third each), PLACE in batches, the feed's putMany per batch —
 * with Redis's and this process's CPU time per placement for each step. What a step costs, not how fast the
 * loaded machine ran it.
 */
async function costRun(redis: Backend, o: Options, tag: string): Promise<StepCost[]> {
  const prefix = `k${tag}`;
  const store = new RedisScheduleStore({ redis: redis.client }, { prefix });
  const registry = new RedisRegistryStore({ redis: redis.client, clock: systemClock }, { prefix });
  const candidates = Array.from({ length: o.nServers }, (_, i) => ({
    id: `srv-${i}`,
    address: `127.0.0.1:${20_000 + i}`,
    capacity: 100_000,
    load: 0,
    tier: 0,
  }));
  const now = Date.now();
  const ids = Array.from({ length: o.m }, (_, i) => `k${i}`);
  const steps: StepCost[] = [];
  steps.push(
    await measureStep(redis.client, 'CREATE (the API’s write, not the scheduler’s)', o.m, async () => {
      await createDirect(store, ids, now, 0);
      return o.m;
    }),
  );
  const shares: ConferenceRequest[][] = [];
  steps.push(
    await measureStep(redis.client, 'CLAIM (3 shares)', o.m, async () => {
      for (let s = 0; s < 3; s++)
        shares.push(await store.claim(`${prefix}-s${s}`, Math.ceil(o.m / 3), now, now + 60_000));
      return 3;
    }),
  );
  const batches = shares.flatMap((share, s) =>
    Array.from({ length: Math.ceil(share.length / o.batch) }, (_, i) => ({
      sid: `${prefix}-s${s}`,
      batch: share.slice(i * o.batch, (i + 1) * o.batch),
    })),
  );
  const placed: {
    c: ConferenceRequest;
    a: { serverId: string; address: string; epoch: number; moves: number; expiresAt: number };
  }[] = [];
  steps.push(
    await measureStep(redis.client, `PLACE (batches of ${o.batch}, 4 in flight)`, o.m, async () => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          for (let i = next++; i < batches.length; i = next++) {
            const { sid, batch } = batches[i]!;
            const out = await store.place(sid, batch, candidates, { now });
            out.forEach((r, j) => {
              if (r.ok) placed.push({ c: batch[j]!, a: r.assignment });
            });
          }
        }),
      );
      return batches.length;
    }),
  );
  if (placed.length !== o.m) throw new Error(`cost mode: ${placed.length} of ${o.m} placed`);
  steps.push(
    await measureStep(redis.client, `feed putMany (batches of ${o.batch})`, o.m, async () => {
      for (let i = 0; i < placed.length; i += o.batch)
        await registry.putMany(
          placed.slice(i, i + o.batch).map(({ c, a }) => ({
            id: c.id,
            service: 'conference',
            address: a.address,
            region: c.region,
            load: c.expectedParticipants,
            ttlMs: 86_400_000,
            meta: { serverId: a.serverId, epoch: String(a.epoch), moves: String(a.moves) },
          })),
          // as the scheduler calls it (a registry without the option returns the records anyway)
          { returnRecords: false },
        );
      return Math.ceil(placed.length / o.batch);
    }),
  );
  return steps;
}

/** The fleet and n schedulers of one run, on their own key prefix. */
async function startRig(
  redis: Backend,
  prefix: string,
  n: number,
  o: Options,
  variant: Variant,
  roundMs?: number,
  extra: string[] = [],
  k = 0,
): Promise<{ urls: string[]; pids: number[]; store: ScheduleStore; stop: () => Promise<void> }> {
  // the conference servers: registry records of a day's TTL; their keep-alive probe is this endpoint
  const health = http.createServer((_, res) => res.end('ok'));
  await new Promise<void>((r) => health.listen(0, '127.0.0.1', r));
  const probe = `http://127.0.0.1:${(health.address() as AddressInfo).port}/healthz`;
  const registry = new RedisRegistryStore({ redis: redis.client, clock: systemClock }, { prefix });
  for (let i = 0; i < o.nServers; i++)
    await registry.put({
      id: `srv-${i}`,
      service: 'conference-server',
      address: `127.0.0.1:${20_000 + i}`,
      region: regionOf(i, k),
      capacity: 100_000,
      ttlMs: 86_400_000,
      meta: { probe },
    });
  const closeHealth = () =>
    new Promise<void>((r) => {
      health.closeAllConnections();
      health.close(() => r());
    });
  let scheds: { proc: Spawned; url: string }[];
  try {
    const partitionArgs = k ? ['--region-partitions', partitionRegions(k).join(',')] : [];
    scheds = await startSchedulers(redis, prefix, n, o, variant, roundMs, [...extra, ...partitionArgs]);
  } catch (err) {
    await closeHealth();
    throw err;
  }
  return {
    urls: scheds.map((x) => x.url),
    pids: scheds.map((x) => x.proc.pid),
    store: storeFor(redis, prefix, k),
    stop: async () => {
      await Promise.all(scheds.map((x) => x.proc.stop()));
      await closeHealth();
    },
  };
}

interface ListedConference {
  id: string;
  startAt: number;
  assignment?: { placedAt: number };
}

/** Every conference, page by page, read from the store. */
async function listConferences(store: ScheduleStore): Promise<ListedConference[]> {
  const out: ListedConference[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await store.list(cursor, 1000);
    out.push(...page.items);
    if (!page.next) return out;
    cursor = page.next;
  }
}

async function oneRun(
  redis: Backend,
  n: number,
  variant: Variant,
  o: Options,
  tag: string,
  k = 0,
): Promise<RunResult> {
  const rig = await startRig(redis, `b${tag}`, n, o, variant, undefined, [], k);
  try {
    const urls = rig.urls;
    const store = rig.store;
    const make = (ids: string[], at: number) =>
      o.create === 'direct' ? createDirect(store, ids, at, k) : create(urls, ids, at, k);
    // warm-up: measure the creation rate with conferences that never fall due (an hour ahead, window 0)
    const w0 = Date.now();
    await make(
      Array.from({ length: 200 }, (_, i) => `warm${i}`),
      Date.now() + 3_600_000,
    );
    const createPerS = 200 / ((Date.now() - w0) / 1000);
    const startAt = Date.now() + 1500 + Math.ceil((1.5 * o.m * 1000) / createPerS);
    await make(
      Array.from({ length: o.m }, (_, i) => `c${i}`),
      startAt,
    );
    const createdAt = Date.now();
    const total = async () =>
      (await Promise.all(urls.map((u) => metric(u, 'scheduler_redis_commands_total')))).reduce(
        (a, b) => a + b,
        0,
      );
    // idle command rate (heartbeats, feed reads, probes) between the end of creation and startAt
    await sleep(Math.max(0, Math.min(200, startAt - Date.now() - 600)));
    const q0 = await total();
    const q0t = Date.now();
    const idleCpu0 = rig.pids.map(processCpuUs);
    while (Date.now() < startAt - 20) await sleep(5);
    const cost = await startRedisCost(redis.client, { slowlog: o.slowlog });
    const cpu0 = rig.pids.map(processCpuUs);
    const c0 = await total();
    const bgPerMs = (c0 - q0) / Math.max(1, Date.now() - q0t);
    const idleCpuUsPerMs =
      cpu0.reduce((sum, c, i) => sum + c - idleCpu0[i]!, 0) / Math.max(1, Date.now() - q0t);
    // polled from this process's own connection: not in the schedulers' command counts
    const t0 = Date.now();
    await waitFor(`${o.m} placed`, async () => (await store.counts()).placed === o.m, {
      timeoutMs: 180_000,
      intervalMs: 50,
    });
    const c1 = await total();
    const schedCpuUs = rig.pids.reduce((sum, pid, i) => sum + processCpuUs(pid) - cpu0[i]!, 0);
    const redisCost = await cost.end();
    const phaseMs = Date.now() - t0;
    const latencies = (await listConferences(store)).flatMap((c) =>
      c.assignment && !c.id.startsWith('warm') ? [c.assignment.placedAt - startAt] : [],
    );
    const last = Math.max(...latencies);
    return {
      backend: redis.kind,
      variant,
      schedulers: n,
      partitions: k,
      conferences: o.m,
      placementsPerS: o.m / (Math.max(1, last) / 1000),
      p50Ms: pct(latencies, 50),
      p99Ms: pct(latencies, 99),
      commandsPerPlacement: (c1 - c0 - bgPerMs * phaseMs) / o.m,
      grossCommandsPerPlacement: (c1 - c0) / o.m,
      idleCommandsPerS: bgPerMs * 1000,
      createPerS,
      redisCpuUsPerPlacement: redisCost.cpuUs / o.m,
      schedulerCpuUsPerPlacement: schedCpuUs / o.m,
      schedulerNetCpuUsPerPlacement: (schedCpuUs - idleCpuUsPerMs * phaseMs) / o.m,
      schedulerIdleCpuMsPerS: idleCpuUsPerMs,
      redisScripts: perPlacement(redisCost.topLevel, o.m),
      redisCommands: perPlacement(redisCost.commands, o.m),
      slowlogComplete: redisCost.slowlogDropped === 0,
      loadAverage: os.loadavg()[0]!,
      // the burst is only a burst if every conference was stored before startAt; and a run whose placements could
      // not all be read back has no latency figures (one run at load 45 read none: its rate was M / 1 ms)
      valid: createdAt < startAt && latencies.length === o.m && latencies.every((l) => l >= 0),
    };
  } finally {
    await rig.stop();
  }
}

function redisBenchmark(host: string, port: number, requests: number, cluster: boolean): RedisBench {
  const out = execFileSync(
    'redis-benchmark',
    [
      ...(cluster ? ['--cluster'] : []),
      '-h',
      host,
      '-p',
      String(port),
      '-q',
      '-n',
      String(requests),
      '-c',
      '50',
      '-t',
      'get,set',
      '--csv',
    ],
    { encoding: 'utf8' },
  );
  const rate = (name: string) => {
    const line = out.split('\n').find((l) => l.startsWith(`"${name}"`));
    return line ? Number(line.split(',')[1]!.replaceAll('"', '')) : NaN;
  };
  return { getPerS: rate('GET'), setPerS: rate('SET') };
}

/**
 * The load-independent figures of a row: CPU µs per placement (Redis, schedulers), the ceiling they imply (Redis
 * one core; the n schedulers n cores), and Redis's own µs per placement by script (medians over runs).
 */
function costRow(rs: RunResult[], n: number) {
  const redisCpu = median(rs.map((x) => x.redisCpuUsPerPlacement));
  const schedCpu = median(rs.map((x) => x.schedulerCpuUsPerPlacement));
  // older result files (before the net figure) have none: NaN rather than a made-up 0
  const schedNet = median(rs.map((x) => x.schedulerNetCpuUsPerPlacement ?? NaN));
  const schedIdle = median(rs.map((x) => x.schedulerIdleCpuMsPerS ?? NaN));
  // by script with --slowlog; else by command (INFO commandstats: a script's inner commands count on their own)
  const table = (x: RunResult) => (Object.keys(x.redisScripts).length ? x.redisScripts : x.redisCommands);
  const names = [...new Set(rs.flatMap((x) => Object.keys(table(x))))];
  const scripts = Object.fromEntries(
    names
      .map((k): [string, { calls: number; us: number }] => [
        k,
        {
          calls: Number(median(rs.map((x) => table(x)[k]?.calls ?? 0)).toFixed(4)),
          us: Number(median(rs.map((x) => table(x)[k]?.us ?? 0)).toFixed(3)),
        },
      ])
      .sort((a, b) => b[1].us - a[1].us),
  );
  const redisCeiling = 1e6 / redisCpu;
  const schedCeiling = (n * 1e6) / schedCpu;
  return {
    redisCpuUsPerPlacement: Number(redisCpu.toFixed(2)),
    schedulerCpuUsPerPlacement: Number(schedCpu.toFixed(2)),
    schedulerNetCpuUsPerPlacement: Number(schedNet.toFixed(2)),
    schedulerIdleCpuMsPerS: Number(schedIdle.toFixed(1)),
    redisCeilingPerS: Math.round(redisCeiling),
    schedulerCeilingPerS: Math.round(schedCeiling),
    impliedCeilingPerS: Math.round(Math.min(redisCeiling, schedCeiling)),
    loadAverages: rs.map((x) => Number(x.loadAverage.toFixed(1))),
    scripts,
  };
}

/** Medians per backend and step of the cost mode's runs. */
function costRowsOf(costs: (StepCost & { backend: BackendKind })[], backends: BackendKind[]) {
  return backends.flatMap((backend) =>
    [...new Set(costs.filter((c) => c.backend === backend).map((c) => c.step))].map((step) => {
      const cs = costs.filter((c) => c.backend === backend && c.step === step);
      return {
        backend,
        step,
        calls: cs[0]!.calls,
        redisCpuUsPerPlacement: Number(median(cs.map((c) => c.redisCpuUsPerPlacement)).toFixed(2)),
        nodeCpuUsPerPlacement: Number(median(cs.map((c) => c.nodeCpuUsPerPlacement)).toFixed(2)),
      };
    }),
  );
}

function positiveInt(name: string, v: string | undefined, dflt: number): number {
  const x = v === undefined ? dflt : Number(v);
  if (!(Number.isInteger(x) && x > 0)) throw new Error(`--${name} must be a positive integer (got ${v})`);
  return x;
}

export async function schedulerBenchMain(argv: string[]): Promise<number> {
  const cli = parseCli(spec, argv);
  if (cli.help) {
    process.stdout.write(cli.text);
    return 0;
  }
  const v = cli.values as Record<string, string | undefined>;
  const quick = (cli.values as Record<string, unknown>)['quick'] === true;
  const mode = v['mode'] ?? (quick ? 'both' : 'burst');
  const modes = new Set(mode.split(',').flatMap((m) => (m === 'both' ? ['burst', 'steady'] : [m])));
  for (const m of modes)
    if (!['burst', 'steady', 'failover', 'cost'].includes(m))
      throw new Error(`--mode: burst, steady, both, failover or cost (comma list), got ${m}`);
  const o: Options = {
    readyTimeoutS: positiveInt('ready-timeout-s', v['readyTimeoutS'], 90),
    m: positiveInt('conferences', v['conferences'], quick ? 200 : 3000),
    runs: positiveInt('runs', v['runs'], quick ? 1 : 3),
    counts: (v['schedulers'] ?? (quick ? '1' : '1,2,3'))
      .split(',')
      .map((x) => positiveInt('schedulers', x, 1)),
    variants: (v['variants'] ?? (quick ? 'publish' : 'publish,core')).split(',').map((x) => {
      if (x !== 'publish' && x !== 'core') throw new Error(`--variants: publish or core, got ${x}`);
      return x;
    }),
    nServers: positiveInt('servers', v['servers'], quick ? 5 : 50),
    roundMs: positiveInt('round-ms', v['roundMs'], 100),
    batch: positiveInt('place-batch', v['placeBatch'], 200),
    slowlog: (cli.values as Record<string, unknown>)['slowlog'] === true,
    partitions: (v['regionPartitions'] ?? '0').split(',').map((x) => {
      const k = Number(x);
      if (!(Number.isInteger(k) && k >= 0 && k <= 16))
        throw new Error(`--region-partitions: integers 0..16 (comma list), got ${x}`);
      return k;
    }),
    create: (() => {
      const c = v['create'] ?? 'direct';
      if (c !== 'direct' && c !== 'api') throw new Error(`--create: direct or api, got ${c}`);
      return c;
    })(),
  };
  const backends = (v['backend'] ?? 'single').split(',').map((x): BackendKind => {
    if (x !== 'single' && x !== 'cluster') throw new Error(`--backend: single or cluster, got ${x}`);
    return x;
  });
  const steady: SteadyOptions = {
    rate: positiveInt('rate', v['rate'], quick ? 100 : 1000),
    durationS: positiveInt('duration-s', v['durationS'], quick ? 1 : 10),
    roundMs: positiveInt('steady-round-ms', v['steadyRoundMs'], 20),
  };
  const outDir = path.resolve(root, v['out'] ?? 'docs/benchmarks');
  try {
    packageBin('@switchyard/global-scheduler');
    packageBin('@switchyard/fleet-sim');
  } catch (err) {
    throw new Error(
      `${(err as Error).message}; build first: npx nx run-many -t build -p @switchyard/global-scheduler @switchyard/fleet-sim @switchyard/bench`,
    );
  }

  const ours: RunResult[] = [];
  const steadyRuns: SteadyResult[] = [];
  const failovers: FailoverResult[] = [];
  const costs: (StepCost & { backend: BackendKind; run: number })[] = [];
  const base: (RedisBench & { backend: BackendKind })[] = [];
  const loads: number[] = [];
  const started = Date.now();
  for (const kind of backends) {
    progress(`${kind}: starting Redis`);
    const redis = await startBackend(kind);
    try {
      for (let r = 0; r < o.runs; r++) {
        for (const variant of o.variants) {
          for (const n of o.counts) {
            for (const k of o.partitions) {
              const tag = `${kind[0]}${r}${variant[0]}${n}p${k}`;
              const parts = k ? `, ${k} region partitions` : '';
              if (modes.has('burst')) {
                progress(
                  `${kind} run ${r + 1}/${o.runs}: ${variant}, ${n} scheduler(s)${parts}, ${o.m} conferences`,
                );
                ours.push(await oneRun(redis, n, variant, o, tag, k));
              }
              if (modes.has('steady')) {
                progress(
                  `${kind} run ${r + 1}/${o.runs}: steady ${steady.rate}/s, ${variant}, ${n} scheduler(s)${parts}`,
                );
                steadyRuns.push(await steadyRun(redis, n, variant, o, steady, tag, k));
              }
              // the failover and cost modes run once per round, without partitions variation
              const firstOfRound = n === o.counts[0] && variant === o.variants[0] && k === o.partitions[0];
              // the agent that is killed is a fleet-sim process, which speaks to one Redis only
              if (modes.has('failover') && kind === 'single' && firstOfRound) {
                progress(`${kind} run ${r + 1}/${o.runs}: failover`);
                failovers.push(await failoverRun(redis, o, tag));
              }
              if (modes.has('cost') && firstOfRound) {
                progress(`${kind} run ${r + 1}/${o.runs}: cost of each step`);
                for (const c of await costRun(redis, o, tag)) costs.push({ ...c, backend: kind, run: r });
              }
              loads.push(os.loadavg()[0]!);
              progress(`${kind} run ${r + 1}/${o.runs}: redis-benchmark`);
              base.push({ backend: kind, ...redis.redisBenchmark(quick ? 10_000 : 100_000) });
            }
          }
        }
      }
    } finally {
      await redis.stop();
      process.stderr.write('\n');
    }
  }
  const wallS = Math.round((Date.now() - started) / 1000);
  const limits = new Map(
    backends.map((b) => {
      const bs = base.filter((x) => x.backend === b);
      return [b, { getPerS: median(bs.map((x) => x.getPerS)), setPerS: median(bs.map((x) => x.setPerS)) }];
    }),
  );
  const steadyRows = backends.flatMap((backend) =>
    o.variants.flatMap((variant) =>
      o.counts.flatMap((n) =>
        o.partitions.flatMap((k) => {
          const rs = steadyRuns.filter(
            (x) => x.backend === backend && x.schedulers === n && x.variant === variant && x.partitions === k,
          );
          if (!rs.length) return [];
          return [
            {
              backend,
              variant,
              schedulers: n,
              partitions: k,
              runs: rs.length,
              rate: steady.rate,
              achievedRate: Math.round(median(rs.map((x) => x.achievedRate))),
              placed: Math.round(median(rs.map((x) => x.placed))),
              offered: rs[0]!.offered,
              failedCreates: Math.round(median(rs.map((x) => x.failedCreates))),
              p50Ms: median(rs.map((x) => x.p50Ms)),
              p99Ms: median(rs.map((x) => x.p99Ms)),
              maxMs: median(rs.map((x) => x.maxMs)),
            },
          ];
        }),
      ),
    ),
  );
  const rows = backends.flatMap((backend) =>
    o.variants.flatMap((variant) =>
      o.counts.flatMap((n) =>
        o.partitions.flatMap((k) => {
          if (!modes.has('burst')) return [];
          const rs = ours.filter(
            (x) =>
              x.backend === backend &&
              x.schedulers === n &&
              x.variant === variant &&
              x.partitions === k &&
              x.valid,
          );
          const placementsPerS = median(rs.map((x) => x.placementsPerS));
          const commandsPerPlacement = median(rs.map((x) => x.commandsPerPlacement));
          const grossCommandsPerPlacement = median(rs.map((x) => x.grossCommandsPerPlacement));
          // the limit uses the gross count (idle traffic included): never flattering, and never divided by ~0
          const limit = limits.get(backend)!.getPerS / grossCommandsPerPlacement;
          return [
            {
              backend,
              variant,
              schedulers: n,
              partitions: k,
              validRuns: rs.length,
              placementsPerS: Math.round(placementsPerS),
              p50Ms: median(rs.map((x) => x.p50Ms)),
              p99Ms: median(rs.map((x) => x.p99Ms)),
              commandsPerPlacement: Number(commandsPerPlacement.toFixed(3)),
              grossCommandsPerPlacement: Number(grossCommandsPerPlacement.toFixed(3)),
              idleCommandsPerS: Math.round(median(rs.map((x) => x.idleCommandsPerS))),
              redisLimitPlacementsPerS: Math.round(limit),
              ratioToLimit: Number((placementsPerS / limit).toFixed(3)),
              ...costRow(rs, n),
            },
          ];
        }),
      ),
    ),
  );
  const command = `node tools/bench/dist/main.js scheduler ${argv.join(' ')}`.trim();
  const machine = `${process.platform} ${process.arch}, node ${process.version}, ${os.cpus().length} cpus (load average above ~0.5 means other work shared them), load average ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(
      ' ',
    )} at the end, 1-minute load average after each run: ${loads.map((x) => x.toFixed(1)).join(', ')}; the whole run took ${wallS} s`;
  const single = limits.get(backends[0]!)!;
  const result = {
    benchmark: 'scheduler',
    date: new Date().toISOString(),
    command,
    machine,
    settings: {
      conferences: o.m,
      runs: o.runs,
      servers: o.nServers,
      roundMs: o.roundMs,
      placeBatch: o.batch,
      mode,
      quick,
      steady,
      backends,
      create: o.create,
      regionPartitions: o.partitions,
    },
    redisBenchmark: {
      getPerS: single.getPerS,
      setPerS: single.setPerS,
      byBackend: Object.fromEntries(limits),
      runs: base,
    },
    rows,
    runs: ours,
    steadyRows,
    steadyRuns,
    failovers,
    costRows: costRowsOf(costs, backends),
    costs,
  };
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'scheduler.json'), `${JSON.stringify(result, null, 2)}\n`);
  const md = [
    '# Scheduler placement benchmark',
    '',
    `Command: \`${command}\` (after \`npx nx run-many -t build -p @switchyard/global-scheduler @switchyard/fleet-sim @switchyard/bench\`).`,
    `${result.date}; ${machine}.`,
    `${o.m} conferences per burst run, all due at once; ${o.nServers} conference servers registered by the bench; round ${o.roundMs} ms; PLACE batch ${o.batch};`,
    `conferences created ${o.create === 'direct' ? 'by the store CREATE script from the bench process' : 'through the HTTP API'}; backends: ${backends.join(', ')};`,
    `medians of ${o.runs} runs (runs where creating the burst overran its start time are left out: "valid runs").`,
    `Baseline, same run, same Redis, alternating with ours: \`redis-benchmark -c 50 -n 100000 -t get,set\` (\`--cluster\` on the cluster): ${[
      ...limits,
    ]
      .map(([b, l]) => `${b}: GET ${Math.round(l.getPerS)}/s, SET ${Math.round(l.setPerS)}/s`)
      .join('; ')}.`,
    '',
    ...(rows.length ? [] : ['(burst mode not run)', '']),
    '| backend | variant | schedulers | region partitions | valid runs | placements/s | latency p50 (ms) | p99 (ms) | Redis commands / placement (net) | gross | idle commands/s | Redis limit (GET/s ÷ gross) | ratio to limit |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (x) =>
        `| ${x.backend} | ${x.variant} | ${x.schedulers} | ${x.partitions} | ${x.validRuns} | ${x.placementsPerS} | ${x.p50Ms} | ${x.p99Ms} | ${x.commandsPerPlacement} | ${x.grossCommandsPerPlacement} | ${x.idleCommandsPerS} | ${x.redisLimitPlacementsPerS} | ${x.ratioToLimit} |`,
    ),
    '',
    '- `publish`: each placement is also put on the registry feed (service `conference`, one `putMany` script per',
    '  PLACE batch); `core`: the schedule table only (`--assignment-service ""`).',
    '- Latency = placedAt − startAt: all conferences fall due at once, so it includes the wait for the next round',
    '  boundary and the queue behind the rest of the burst; p99 ≈ the time to drain the burst.',
    '- Commands per placement: every Redis command the scheduler processes send (schedule store and registry; a Lua',
    '  script counts once) during the burst, / M. Net takes out the idle rate (heartbeats, feed reads, probes, rounds',
    '  with nothing to do) measured just before the burst; it is noisy when it is near 0. The limit column is what',
    '  Redis could sustain doing nothing but the gross commands at the GET rate of redis-benchmark.',
    '- Redis, the schedulers, the load generator and redis-benchmark all share the same cores.',
    '- Region partitions k > 0 (`--region-partitions`): the schedulers run with `--region-partitions r0,…,r(k-1)`;',
    '  conferences and servers are spread evenly over the k regions, so every placement stays in its own partition',
    '  (one schedule hash tag per region: on a Cluster they spread over the masters). 0 = one schedule.',
    '',
    '### CPU per placement (what does not depend on the load)',
    '',
    '| backend | variant | schedulers | region partitions | load average (1 min) per run | Redis CPU µs / placement | schedulers CPU µs / placement (sum) | schedulers net of idle | schedulers idle CPU ms/s | Redis ceiling/s (1 core) | schedulers ceiling/s (n cores) | implied ceiling/s |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (x) =>
        `| ${x.backend} | ${x.variant} | ${x.schedulers} | ${x.partitions} | ${x.loadAverages.join(', ')} | ${x.redisCpuUsPerPlacement} | ${x.schedulerCpuUsPerPlacement} | ${x.schedulerNetCpuUsPerPlacement} | ${x.schedulerIdleCpuMsPerS} | ${x.redisCeilingPerS} | ${x.schedulerCeilingPerS} | ${x.impliedCeilingPerS} |`,
    ),
    '',
    o.slowlog
      ? "Redis's time per placement by command or script (`--slowlog`: `SLOWLOG` at threshold 0 during the burst, which itself costs Redis CPU and lowers the rates above; medians over runs; a script's entry includes the commands it called, which Redis 7 also logs on their own; these are wall times inside Redis, so on a loaded machine they include preemption: the CPU columns above are the load-independent figures):"
      : "Redis's time per placement by command (`INFO commandstats`, medians over runs: `evalsha` is every script call, its inner commands also count under their own names; `SLOWLOG`, which names each script, is off unless `--slowlog`: it costs Redis CPU itself; wall times inside Redis, so on a loaded machine they include preemption: the CPU columns above are the load-independent figures):",
    '',
    ...rows.flatMap((x) => [
      `- ${x.backend} / ${x.variant} / ${x.schedulers}${x.partitions ? ` / ${x.partitions} partitions` : ''}: ${Object.entries(
        x.scripts,
      )
        .slice(0, 8)
        .map(([k, v]) => `${k} ${v.us} µs (${v.calls} calls)`)
        .join('; ')}`,
    ]),
    '',
    '- CPU time is read from `INFO cpu` (Redis, all masters on a cluster) and `/proc/<pid>/stat` (the scheduler',
    '  processes, 10 ms resolution) from just before the burst falls due until all are placed, / M: gross (idle',
    "  rounds, heartbeats and the bench's 50 ms polling of the store are in it). A process waiting for a core costs",
    '  no CPU time, so these figures hold on a loaded machine (cache and frequency effects aside). The ceilings are',
    '  what one core for Redis and one per scheduler would sustain at that cost. "Net of idle" takes out the',
    "  schedulers' idle CPU rate (rounds with nothing to claim, heartbeats, keep-alive probes), measured over about",
    '  0.6 s just before the burst (10 ms resolution per process: a few µs per placement of noise), times the drain.',
    '',
    '### The steps alone (`--mode cost`)',
    '',
    ...(result.costRows.length
      ? [
          `Each step of ${o.m} placements run alone from the bench process on the Redis under test (${o.nServers} candidates), medians of ${o.runs} runs; CPU µs per placement:`,
          '',
          '| backend | step | calls | Redis CPU µs / placement | Node CPU µs / placement (the caller: ioredis, JSON, argument building) |',
          '|---|---|---|---|---|',
          ...result.costRows.map(
            (x) =>
              `| ${x.backend} | ${x.step} | ${x.calls} | ${x.redisCpuUsPerPlacement} | ${x.nodeCpuUsPerPlacement} |`,
          ),
          '',
        ]
      : ['(cost mode not run)', '']),
    '## Steady rate: latency from due to placed',
    '',
    ...(steadyRows.length
      ? [
          `${steady.rate} conferences/s for ${steady.durationS} s, each due at the moment it is created (startAt = request time,`,
          `window 0: nothing placed ahead); rounds every ${steady.roundMs} ms; medians over runs of each run's percentiles.`,
          '',
          '| backend | variant | schedulers | region partitions | runs | offered/s | achieved/s | placed / offered | failed creates | p50 (ms) | p99 (ms) | max (ms) |',
          '|---|---|---|---|---|---|---|---|---|---|---|---|',
          ...steadyRows.map(
            (x) =>
              `| ${x.backend} | ${x.variant} | ${x.schedulers} | ${x.partitions} | ${x.runs} | ${x.rate} | ${x.achievedRate} | ${x.placed} / ${x.offered} | ${x.failedCreates} | ${x.p50Ms} | ${x.p99Ms} | ${x.maxMs} |`,
          ),
          '',
          "- Latency = placedAt − startAt, both on this machine's clock; it includes the wait for the next round",
          '  boundary (on average half a round) and the round itself.',
          '',
        ]
      : ['(steady mode not run)', '']),
    '## Failover: a conference server killed',
    '',
    ...(failovers.length
      ? [
          `3 schedulers (round ${FAILOVER.roundMs} ms, probe every ${FAILOVER.probeMs} ms, ${FAILOVER.misses} misses, probe timeout ${FAILOVER.probeTimeoutMs} ms), ${FAILOVER.conferences} conferences;`,
          '`kill -9` of one real agent (fleet-sim); time until every conference it held is placed elsewhere (single Redis).',
          '',
          'A run counts ("valid") only if the killed server held conferences when it was killed.',
          '',
          '| runs | valid runs | conferences on the killed server (median) | time to move all (ms): median | min | max | design bound (ms) |',
          '|---|---|---|---|---|---|---|',
          (() => {
            const ok = failovers.filter((f) => f.onKilled > 0);
            const ms = ok.map((f) => f.moveMs);
            return `| ${failovers.length} | ${ok.length} | ${median(ok.map((f) => f.onKilled))} | ${median(ms)} | ${ms.length ? Math.min(...ms) : NaN} | ${ms.length ? Math.max(...ms) : NaN} | ${failovers[0]!.boundMs} |`;
          })(),
          '',
        ]
      : ['(failover mode not run)', '']),
  ].join('\n');
  fs.writeFileSync(path.join(outDir, 'scheduler.md'), md);
  process.stdout.write(`${md}\n`);
  return 0;
}
