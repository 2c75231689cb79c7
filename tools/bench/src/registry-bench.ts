/**
 * Registry benchmark: operations per second of the Redis store (put, renew, update, get) against plain ioredis
 * commands doing the same raw Redis work, on the same private redis-server, in the same run, alternating; plus the
 * memory store, and the change → watcher latency of both stores, the raw Redis equivalent, and the push channel.
 *
 * Method. Every figure is `--n` operations with `--concurrency` in flight on one ioredis connection, bounded by
 * `--max-seconds`. Each of `--runs` runs measures every operation, ours and the baseline back to back (which goes
 * first alternates from run to run); the medians are reported. The baseline sends, pipelined (one round trip per
 * Lua call of ours), the commands our scripts run, without the checks, the atomicity, or the input validation:
 *   put    ZSCORE exp, INCR rev, XADD feed, HSET rec, HSET rv, ZADD exp, SET epoch NX, PEXPIRE ×6, SADD services
 *   renew  ZSCORE exp, ZADD exp XX, SET epoch NX, PEXPIRE ×6, HGET rv, HGET rec
 *   update a read round trip (ZSCORE exp, HGET rec, HGET rv), then the put pipeline
 *   get    GET epoch, GET rev, XRANGE feed COUNT 1, ZSCORE exp, HGET rec, HGET rv
 * Latency: ours = `update()` until the watcher yields the event (the read + write round trips, the watcher's
 * blocked XREAD waking, its epoch check); baseline = the put pipeline until a blocked XREAD on a second connection
 * returns the entry.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { parseCli, SystemClock, type CliSpec } from '@switchyard/core';
import { startRedisServer } from '@switchyard/launch';
import {
  MemoryRegistryStore,
  PushPublisher,
  PushSubscriber,
  RedisRegistryStore,
  type RegistryStore,
} from '@switchyard/registry';

export const REGISTRY_BENCH_CLI: CliSpec = {
  name: 'bench registry',
  summary:
    'registry store ops/s (Redis store vs raw ioredis, memory store) and change → watcher latency; writes docs/benchmarks/registry.{json,md}',
  options: {
    n: { type: 'string', doc: 'operations per figure', defaultText: '5000' },
    concurrency: { type: 'string', doc: 'operations in flight', defaultText: '50' },
    runs: { type: 'string', doc: 'runs, ours and baseline alternating (median reported)', defaultText: '3' },
    'latency-samples': {
      type: 'string',
      doc: 'change → watcher samples per store per run',
      defaultText: '500',
    },
    'max-seconds': { type: 'string', doc: 'time bound of one figure', defaultText: '60' },
    'out-dir': {
      type: 'string',
      doc: 'where to write registry.json and registry.md',
      defaultText: '<repo>/docs/benchmarks',
    },
    'no-write': { type: 'boolean', doc: 'print the table only' },
  },
  examples: [
    'node tools/bench/dist/main.js registry',
    'node tools/bench/dist/main.js registry --n 500 --runs 1 --latency-samples 50 --no-write',
  ],
};

const OPS = ['put', 'renew', 'update', 'get'] as const;
type Op = (typeof OPS)[number];
type Rates = Record<Op, number>;

interface Options {
  n: number;
  concurrency: number;
  runs: number;
  samples: number;
  maxMs: number;
}

interface Latency {
  p50Ms: number;
  p99Ms: number;
  samples: number;
}

export interface RegistryBenchReport {
  benchmark: 'registry';
  date: string;
  command: string;
  machine: { node: string; cpus: number; redis: string; loadAverage: number[] };
  settings: { n: number; concurrency: number; runs: number; latencySamples: number; maxSeconds: number };
  /** Median ops/s over the runs. */
  redis: { ours: Rates; baseline: Rates; ratios: Rates };
  memory: Rates;
  latency: { memory: Latency; redisOurs: Latency; redisBaseline: Latency; push: Latency };
  runs: Array<{ ours: Rates; baseline: Rates; memory: Rates }>;
}

const SERVICE = 'bench';
const IDS = 1000; // records the operations cycle over
const TTL_MS = 60_000;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return Number(
    (s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN).toFixed(3),
  );
};
const latency = (xs: number[]): Latency => ({ p50Ms: pct(xs, 50), p99Ms: pct(xs, 99), samples: xs.length });

/** Runs `fn(i)` for i < n with `concurrency` in flight, issuing nothing new after maxMs; returns ops/s. */
async function rate(o: Options, fn: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  let done = 0;
  const t0 = performance.now();
  const deadline = t0 + o.maxMs;
  await Promise.all(
    Array.from({ length: o.concurrency }, async () => {
      while (next < o.n && performance.now() < deadline) {
        await fn(next++);
        done++;
      }
    }),
  );
  return Math.round(done / ((performance.now() - t0) / 1000));
}

/** Resolves with `p`, or rejects after `ms` naming what it waited for: a lost event must not hang the run. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`registry bench: no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

const id = (i: number) => `r${i % IDS}`;
const input = (i: number) => ({ id: id(i), service: SERVICE, address: '127.0.0.1:1', ttlMs: TTL_MS });

function storeOp(store: RegistryStore, op: Op): (i: number) => Promise<unknown> {
  switch (op) {
    case 'put':
      return (i) => store.put(input(i));
    case 'renew':
      return (i) => store.renew(SERVICE, id(i), TTL_MS);
    case 'update':
      return (i) => store.update(SERVICE, id(i), { load: i });
    case 'get':
      return (i) => store.get(SERVICE, id(i));
  }
}

async function storeRates(store: RegistryStore, o: Options): Promise<Rates> {
  const r = {} as Rates;
  for (const op of OPS) r[op] = await rate(o, storeOp(store, op));
  return r;
}

/** Plain ioredis doing the raw work of our scripts (see the file comment), on keys of its own prefix. */
class RawBaseline {
  private readonly k: Record<'rec' | 'rv' | 'exp' | 'rev' | 'feed' | 'epoch', string>;
  private readonly all: string[];
  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    const base = `${prefix}:{${SERVICE}}:`;
    this.k = {
      rec: `${base}rec`,
      rv: `${base}rv`,
      exp: `${base}exp`,
      rev: `${base}rev`,
      feed: `${base}feed`,
      epoch: `${base}epoch`,
    };
    this.all = Object.values(this.k);
  }

  get feedKey(): string {
    return this.k.feed;
  }

  private touch(p: ReturnType<Redis['pipeline']>): void {
    p.set(this.k.epoch, 'e', 'NX');
    for (const key of this.all) p.pexpire(key, 7 * 24 * 3600_000);
  }

  async write(i: number, load = 0): Promise<void> {
    const expiresAt = Date.now() + TTL_MS;
    const body = JSON.stringify({ ...input(i), ttlMs: undefined, region: 'default', load, meta: {} });
    const p = this.redis.pipeline();
    p.zscore(this.k.exp, id(i));
    p.incr(this.k.rev);
    p.xadd(this.k.feed, 'MAXLEN', '~', '10000', '*', 't', 'updated', 'id', id(i), 'b', body, 'e', expiresAt);
    p.hset(this.k.rec, id(i), body);
    p.hset(this.k.rv, id(i), String(i));
    p.zadd(this.k.exp, expiresAt, id(i));
    this.touch(p);
    p.sadd('base:services', SERVICE);
    check(await p.exec());
  }

  async renew(i: number): Promise<void> {
    const p = this.redis.pipeline();
    p.zscore(this.k.exp, id(i));
    p.zadd(this.k.exp, 'XX', Date.now() + TTL_MS, id(i));
    this.touch(p);
    p.hget(this.k.rv, id(i));
    p.hget(this.k.rec, id(i));
    const res = check(await p.exec());
    JSON.parse(String(res[res.length - 1]![1]));
  }

  async update(i: number): Promise<void> {
    const p = this.redis.pipeline();
    p.zscore(this.k.exp, id(i));
    p.hget(this.k.rec, id(i));
    p.hget(this.k.rv, id(i));
    const res = check(await p.exec());
    JSON.parse(String(res[1]![1]));
    await this.write(i, i);
  }

  async get(i: number): Promise<void> {
    const p = this.redis.pipeline();
    p.get(this.k.epoch);
    p.get(this.k.rev);
    p.xrange(this.k.feed, '-', '+', 'COUNT', 1);
    p.zscore(this.k.exp, id(i));
    p.hget(this.k.rec, id(i));
    p.hget(this.k.rv, id(i));
    const res = check(await p.exec());
    JSON.parse(String(res[4]![1]));
  }

  op(op: Op): (i: number) => Promise<unknown> {
    return op === 'put' ? (i) => this.write(i) : (i) => this[op](i);
  }

  /** The newest feed entry id, so a reader can wait for the next one however late its XREAD arrives. */
  async lastFeedId(): Promise<string> {
    const last = await this.redis.xrevrange(this.k.feed, '+', '-', 'COUNT', 1);
    return last[0]?.[0] ?? '0-0';
  }
}

function check(res: Array<[Error | null, unknown]> | null): Array<[Error | null, unknown]> {
  if (!res) throw new Error('registry bench: pipeline aborted');
  for (const [err] of res) if (err) throw err;
  return res;
}

/** update() until the store's watcher yields that update, `samples` times. */
async function storeLatency(store: RegistryStore, samples: number, tag: number): Promise<number[]> {
  const w = store.watch(SERVICE);
  const it = w[Symbol.asyncIterator]();
  await within(it.next(), 5000, 'snapshot');
  const lat: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      const load = tag * 1_000_000 + i + 1;
      const t0 = performance.now();
      await store.update(SERVICE, 'r0', { load });
      const seen = (async () => {
        for (;;) {
          const { value, done } = await it.next();
          if (done) throw new Error('registry bench: watch ended');
          if (value.type === 'updated' && value.record.load === load) return;
        }
      })();
      await within(seen, 5000, 'watch event');
      lat.push(performance.now() - t0);
    }
  } finally {
    w.close();
  }
  return lat;
}

/** The put pipeline until a blocked XREAD on a second connection returns the entry, `samples` times. */
async function rawLatency(base: RawBaseline, reader: Redis, samples: number): Promise<number[]> {
  const lat: number[] = [];
  let last = await base.lastFeedId();
  for (let i = 0; i < samples; i++) {
    const read = reader.xread('COUNT', 1, 'BLOCK', 5000, 'STREAMS', base.feedKey, last);
    const t0 = performance.now();
    await base.write(0, i);
    const res = await within(read, 6000, 'XREAD entry');
    const entry = res?.[0]?.[1][0];
    if (!entry) throw new Error('registry bench: XREAD returned nothing');
    last = entry[0];
    lat.push(performance.now() - t0);
  }
  return lat;
}

async function pushLatency(clock: SystemClock, samples: number): Promise<number[]> {
  const sub = new PushSubscriber({ clock }, { port: 0 });
  await sub.start();
  const { host, port } = sub.address();
  const pub = new PushPublisher(
    { clock },
    { host, port, record: { id: 'c', service: 'mixer', address: 'x' }, heartbeatMs: 1000 },
  );
  let waiting: { load: number; resolve: () => void } | undefined;
  sub.on((e) => {
    if (e.type === 'changed' && waiting && e.record.load === waiting.load) waiting.resolve();
  });
  const lat: number[] = [];
  try {
    await pub.start();
    for (let i = 1; i <= samples; i++) {
      const done = new Promise<void>((resolve) => (waiting = { load: i, resolve }));
      const t0 = performance.now();
      pub.update({ load: i });
      await within(done, 5000, 'push delta');
      lat.push(performance.now() - t0);
    }
  } finally {
    await pub.stop();
    await sub.stop();
  }
  return lat;
}

export async function runRegistryBench(
  o: Options,
  progress: (line: string) => void = () => undefined,
): Promise<Omit<RegistryBenchReport, 'command'>> {
  const clock = new SystemClock({ unref: true });
  const server = await startRedisServer();
  const conn = () => new Redis({ host: '127.0.0.1', port: server.port, maxRetriesPerRequest: 1 });
  const oursConn = conn();
  const baseConn = conn();
  const reader = conn();
  let redisVersion = '?';
  const store = new RedisRegistryStore({ redis: oursConn, clock }, { prefix: 'ours' });
  const base = new RawBaseline(baseConn, 'base');
  const runs: RegistryBenchReport['runs'] = [];
  const lat = { memory: [] as number[], redisOurs: [] as number[], redisBaseline: [] as number[] };
  const push: number[] = [];
  try {
    redisVersion = /redis_version:(\S+)/.exec(await reader.info('server'))?.[1] ?? '?';
    await store.start();
    for (let r = 0; r < o.runs; r++) {
      const ours = {} as Rates;
      const baseline = {} as Rates;
      // put comes first, so renew/update/get find the records on both sides
      for (const op of OPS) {
        const measureOurs = async () => (ours[op] = await rate(o, storeOp(store, op)));
        const measureBase = async () => (baseline[op] = await rate(o, base.op(op)));
        if (r % 2 === 0) {
          await measureOurs();
          await measureBase();
        } else {
          await measureBase();
          await measureOurs();
        }
      }
      const mem = new MemoryRegistryStore({ clock });
      await mem.start();
      const memory = await storeRates(mem, o);
      lat.memory.push(...(await storeLatency(mem, o.samples, r)));
      await mem.stop();
      if (r % 2 === 0) {
        lat.redisOurs.push(...(await storeLatency(store, o.samples, r)));
        lat.redisBaseline.push(...(await rawLatency(base, reader, o.samples)));
      } else {
        lat.redisBaseline.push(...(await rawLatency(base, reader, o.samples)));
        lat.redisOurs.push(...(await storeLatency(store, o.samples, r)));
      }
      push.push(...(await pushLatency(clock, o.samples)));
      runs.push({ ours, baseline, memory });
      progress(
        `run ${r + 1}/${o.runs}: redis ours ${JSON.stringify(ours)} baseline ${JSON.stringify(baseline)}`,
      );
    }
  } finally {
    await store.stop();
    for (const c of [oursConn, baseConn, reader]) c.disconnect();
    await server.stop();
  }
  const med = (pick: (x: RegistryBenchReport['runs'][number]) => Rates): Rates =>
    Object.fromEntries(OPS.map((op) => [op, Math.round(median(runs.map((x) => pick(x)[op])))])) as Rates;
  const ours = med((x) => x.ours);
  const baseline = med((x) => x.baseline);
  const ratios = Object.fromEntries(
    OPS.map((op) => [op, Number((ours[op] / baseline[op]).toFixed(2))]),
  ) as Rates;
  return {
    benchmark: 'registry',
    date: new Date().toISOString(),
    machine: {
      node: process.version,
      cpus: os.availableParallelism(),
      redis: redisVersion,
      loadAverage: os.loadavg().map((x) => Number(x.toFixed(2))),
    },
    settings: {
      n: o.n,
      concurrency: o.concurrency,
      runs: o.runs,
      latencySamples: o.samples,
      maxSeconds: o.maxMs / 1000,
    },
    redis: { ours, baseline, ratios },
    memory: med((x) => x.memory),
    latency: {
      memory: latency(lat.memory),
      redisOurs: latency(lat.redisOurs),
      redisBaseline: latency(lat.redisBaseline),
      push: latency(push),
    },
    runs,
  };
}

const fmt = (x: number) => x.toLocaleString('en-US');

export function renderRegistryTable(r: Omit<RegistryBenchReport, 'command'>): string {
  const row = (name: string, x: Rates | undefined, l: Latency) =>
    `| ${name} | ${OPS.map((op) => (x ? fmt(x[op]) : '')).join(' | ')} | ${l.p50Ms} / ${l.p99Ms} ms |`;
  return [
    '|  | put/s | renew/s | update/s | get/s | change → watcher p50 / p99 |',
    '|---|---:|---:|---:|---:|---:|',
    row('Redis store (ours)', r.redis.ours, r.latency.redisOurs),
    row('baseline: raw ioredis pipelines', r.redis.baseline, r.latency.redisBaseline),
    `| ratio ours / baseline | ${OPS.map((op) => `${r.redis.ratios[op]}x`).join(' | ')} |  |`,
    row('memory store', r.memory, r.latency.memory),
    row('push channel (TCP, delta → subscriber event)', undefined, r.latency.push),
  ].join('\n');
}

function repoRoot(): string {
  let dir = import.meta.dirname;
  while (!fs.existsSync(path.join(dir, 'nx.json'))) {
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
}

function intFlag(name: string, v: unknown, dflt: number, max: number): number {
  const x = v === undefined ? dflt : Number(v);
  if (!(Number.isInteger(x) && x >= 1 && x <= max))
    throw new RangeError(`--${name} must be an integer 1..${max} (got ${String(v)})`);
  return x;
}

/** CLI entry: `registry [--n N] [--concurrency C] [--runs R] [--latency-samples S] [--out-dir DIR] [--no-write]`. */
export async function registryBenchMain(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
): Promise<number> {
  const cli = parseCli(REGISTRY_BENCH_CLI, argv, {});
  if (cli.help) {
    out(cli.text);
    return 0;
  }
  const v = cli.values as Record<string, string | boolean | undefined>;
  let o: Options;
  try {
    o = {
      n: intFlag('n', v['n'], 5000, 1_000_000),
      concurrency: intFlag('concurrency', v['concurrency'], 50, 1000),
      runs: intFlag('runs', v['runs'], 3, 20),
      samples: intFlag('latency-samples', v['latencySamples'], 500, 100_000),
      maxMs: intFlag('max-seconds', v['maxSeconds'], 60, 3600) * 1000,
    };
  } catch (err) {
    out(`bench registry: ${(err as Error).message} (see --help)\n`);
    return 2;
  }
  const command = ['node tools/bench/dist/main.js registry', ...argv].join(' ');
  const report: RegistryBenchReport = {
    command,
    ...(await runRegistryBench(o, (l) => process.stderr.write(`  ${l}\n`))),
  };
  const table = renderRegistryTable(report);
  out(`${table}\n`);
  if (!v['noWrite']) {
    const dir =
      typeof v['outDir'] === 'string' ? path.resolve(v['outDir']) : path.join(repoRoot(), 'docs/benchmarks');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'registry.json'), `${JSON.stringify(report, null, 2)}\n`);
    const md = [
      '# registry',
      '',
      `Produced by \`${command}\` (after \`npx nx run @switchyard/bench:build\`) on ${report.date}:`,
      `Node ${report.machine.node}, ${report.machine.cpus} CPUs, private redis-server ${report.machine.redis} on loopback.`,
      `Load average when it ended: ${report.machine.loadAverage.map((x) => x.toFixed(1)).join(' / ')} (above ~0.5, other work shared the cores).`,
      '',
      `${o.n} operations per figure, ${o.concurrency} in flight on one ioredis connection; medians of ${o.runs} runs in which`,
      'ours and the baseline ran back to back, alternating which went first. Latencies: p50 / p99 over',
      `${o.samples} samples per run.`,
      '',
      table,
      '',
      '- Baseline: plain ioredis, pipelined, sending the commands our Lua scripts run (one round trip per script of',
      '  ours: `update` is a read then a write) without the checks, atomicity or input validation. The ratio is what',
      '  the scripts, compare-and-set, exactly-once expiry and validation cost against the bare Redis work. The',
      '  baseline pays client and protocol overhead per command where a script pays it once per call, so it is the',
      '  unscripted equivalent of ours, not a lower bound of what the work could cost.',
      '- Change → watcher, ours: `update()` (read + write round trips) until `watch()` yields the event (blocked',
      '  XREAD wakes, epoch check). Baseline: the put pipeline until a blocked XREAD on a second connection returns.',
      '- Memory store and push channel: in-process, no baseline.',
      '',
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'registry.md'), md);
    out(`wrote ${path.join(dir, 'registry.json')} and registry.md\n`);
  }
  return 0;
}
