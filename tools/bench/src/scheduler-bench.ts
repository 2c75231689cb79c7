/**
 * Scheduler placement benchmark: placements/s and placement latency (p50/p99) with 1, 2 and 3 scheduler
 * processes against one Redis, Redis commands per placement, and `redis-benchmark` on the same Redis in the same
 * run as the reference limit. Runs alternate ours and the baseline; figures are medians over `--runs`.
 *
 * Method: N scheduler processes (window 0) and a fleet-sim process of 50 servers start on a fresh redis-server;
 * M conferences are created through the APIs with one common `startAt` a little in the future, so all become due
 * at once; placements/s = M / (last placedAt − startAt), latency of a conference = placedAt − startAt (includes
 * the wait for the next round boundary). Commands per placement = the schedulers' own Redis command counters
 * (scheduler_redis_commands_total) over the placement phase / M.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseCli, type CliSpec } from '@switchyard/core';
import { spawnProcess, startRedis, waitFor, type Spawned, type TestRedis } from '@switchyard/testing';

const root = path.resolve(import.meta.dirname, '../../..');
const SCHEDULER_MAIN = path.join(root, 'apps/global-scheduler/dist/main.js');
const FLEET_MAIN = path.join(root, 'tools/fleet-sim/dist/main.js');
const TOKEN = 'bench-token-0123';

const spec: CliSpec = {
  name: 'scheduler-bench',
  summary: 'scheduler placements/s and latency for 1..3 schedulers vs the redis-benchmark limit',
  options: {
    conferences: { type: 'string', doc: 'conferences per run', defaultText: '4000' },
    runs: { type: 'string', doc: 'repetitions (median reported)', defaultText: '3' },
    schedulers: { type: 'string', doc: 'scheduler counts to measure', defaultText: '1,2,3' },
    servers: { type: 'string', doc: 'simulated conference servers', defaultText: '50' },
    'round-ms': { type: 'string', doc: 'round interval of the schedulers', defaultText: '100' },
    'place-batch': { type: 'string', doc: 'conferences per PLACE script', defaultText: '200' },
    out: {
      type: 'string',
      doc: 'directory for scheduler.json and scheduler.md',
      defaultText: 'docs/benchmarks',
    },
  },
  examples: ['node tools/bench/dist/scheduler-main.js --conferences 4000 --runs 3'],
};

interface RunResult {
  schedulers: number;
  conferences: number;
  placementsPerS: number;
  p50Ms: number;
  p99Ms: number;
  commandsPerPlacement: number;
  createOverran: boolean;
}

interface RedisBench {
  getPerS: number;
  setPerS: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length
    ? s.length % 2
      ? s[(s.length - 1) / 2]!
      : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
    : NaN;
};
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};

function progress(msg: string): void {
  process.stderr.write(`\r\u001b[2K[scheduler-bench] ${msg}`);
}

async function startScheduler(
  redis: TestRedis,
  prefix: string,
  id: string,
  roundMs: number,
  batch: number,
): Promise<{ proc: Spawned; url: string }> {
  const proc = spawnProcess(
    process.execPath,
    [
      SCHEDULER_MAIN,
      '--id',
      id,
      '--port',
      '0',
      '--redis',
      redis.url,
      '--prefix',
      prefix,
      '--token',
      TOKEN,
      '--round-interval-ms',
      String(roundMs),
      '--window-ms',
      '0',
      '--place-batch',
      String(batch),
    ],
    { env: { ...process.env, LOG_LEVEL: 'warn' } },
  );
  const line = await waitFor(
    `scheduler ${id} ready`,
    () =>
      proc
        .output()
        .split('\n')
        .find((l) => l.includes('"scheduler":"ready"')),
    {
      timeoutMs: 20_000,
    },
  );
  return { proc, url: (JSON.parse(line) as { url: string }).url };
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

async function placedCount(url: string): Promise<number> {
  const servers = (await (await fetch(`${url}/v1/servers`)).json()) as { conferences: number }[];
  return servers.reduce((a, s) => a + s.conferences, 0);
}

async function oneRun(
  redis: TestRedis,
  n: number,
  m: number,
  nServers: number,
  roundMs: number,
  batch: number,
  tag: string,
): Promise<RunResult> {
  const prefix = `b${tag}`;
  const fleet = spawnProcess(
    process.execPath,
    [
      FLEET_MAIN,
      '--redis',
      redis.url,
      '--prefix',
      prefix,
      '--count',
      String(nServers),
      '--capacity',
      '100000',
    ],
    {
      env: { ...process.env, LOG_LEVEL: 'warn' },
    },
  );
  const scheds: { proc: Spawned; url: string }[] = [];
  try {
    await waitFor('fleet ready', () => fleet.output().includes('"fleet":"ready"'), { timeoutMs: 30_000 });
    for (let i = 0; i < n; i++)
      scheds.push(await startScheduler(redis, prefix, `${prefix}-s${i}`, roundMs, batch));
    const urls = scheds.map((s) => s.url);
    // one start time for all, far enough ahead for the creation to finish (checked below)
    const startAt = Date.now() + 2000 + Math.ceil(m * 1.5);
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (;;) {
          const i = next++;
          if (i >= m) return;
          const r = await fetch(`${urls[i % urls.length]}/v1/conferences`, {
            method: 'POST',
            headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
            body: JSON.stringify({ id: `c${i}`, expectedParticipants: 1, startAt, durationS: 3600 }),
          });
          if (r.status !== 201) throw new Error(`create: HTTP ${r.status}`);
          await r.arrayBuffer();
        }
      }),
    );
    const createOverran = Date.now() > startAt;
    // background command rate (heartbeats, feed reads, probes) over the last quiet second before startAt
    const before = async () =>
      (await Promise.all(urls.map((u) => metric(u, 'scheduler_redis_commands_total')))).reduce(
        (a, b) => a + b,
        0,
      );
    const quietFrom = Math.max(Date.now(), startAt - 1000);
    while (Date.now() < quietFrom) await new Promise((r) => setTimeout(r, 20));
    const q0 = await before();
    const q0t = Date.now();
    while (Date.now() < startAt) await new Promise((r) => setTimeout(r, 5));
    const c0 = await before();
    const bgPerMs = (c0 - q0) / Math.max(1, Date.now() - q0t);
    const t0 = Date.now();
    await waitFor(`${m} placed`, async () => (await placedCount(urls[0]!)) === m, {
      timeoutMs: 120_000,
      intervalMs: 20,
    });
    const c1 = await before();
    const phaseMs = Date.now() - t0;
    const latencies: number[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = (await (
        await fetch(`${urls[0]}/v1/conferences?limit=1000${cursor ? `&cursor=${cursor}` : ''}`)
      ).json()) as {
        items: { assignment?: { placedAt: number } }[];
        next?: string;
      };
      for (const c of page.items) if (c.assignment) latencies.push(c.assignment.placedAt - startAt);
      if (!page.next) break;
      cursor = page.next;
    }
    const last = Math.max(...latencies);
    return {
      schedulers: n,
      conferences: m,
      placementsPerS: m / (Math.max(1, last) / 1000),
      p50Ms: pct(latencies, 50),
      p99Ms: pct(latencies, 99),
      commandsPerPlacement: (c1 - c0 - bgPerMs * phaseMs) / m,
      createOverran,
    };
  } finally {
    await Promise.all([...scheds.map((s) => s.proc.stop()), fleet.stop()]);
  }
}

function redisBenchmark(redis: TestRedis): RedisBench {
  const out = execFileSync(
    'redis-benchmark',
    ['-h', redis.host, '-p', String(redis.port), '-q', '-n', '100000', '-c', '50', '-t', 'get,set', '--csv'],
    {
      encoding: 'utf8',
    },
  );
  const rate = (name: string) => {
    const line = out.split('\n').find((l) => l.startsWith(`"${name}"`));
    return line ? Number(line.split(',')[1]!.replaceAll('"', '')) : NaN;
  };
  return { getPerS: rate('GET'), setPerS: rate('SET') };
}

export async function schedulerBenchMain(argv: string[]): Promise<number> {
  const cli = parseCli(spec, argv);
  if (cli.help) {
    process.stdout.write(cli.text);
    return 0;
  }
  const v = cli.values as Record<string, string | undefined>;
  const m = Number(v['conferences'] ?? 4000);
  const runs = Number(v['runs'] ?? 3);
  const counts = (v['schedulers'] ?? '1,2,3').split(',').map(Number);
  const nServers = Number(v['servers'] ?? 50);
  const roundMs = Number(v['roundMs'] ?? 100);
  const batch = Number(v['placeBatch'] ?? 200);
  const outDir = path.resolve(root, v['out'] ?? 'docs/benchmarks');
  for (const [k, x] of Object.entries({ conferences: m, runs, servers: nServers, roundMs, batch }))
    if (!(Number.isInteger(x) && x > 0)) throw new Error(`--${k} must be a positive integer`);
  if (!fs.existsSync(SCHEDULER_MAIN) || !fs.existsSync(FLEET_MAIN))
    throw new Error(
      'build first: npx nx run-many -t build -p @switchyard/global-scheduler @switchyard/fleet-sim @switchyard/bench',
    );

  const redis = await startRedis();
  const ours: RunResult[] = [];
  const base: RedisBench[] = [];
  try {
    for (let r = 0; r < runs; r++) {
      for (const n of counts) {
        progress(`run ${r + 1}/${runs}: ${n} scheduler(s), ${m} conferences`);
        ours.push(await oneRun(redis, n, m, nServers, roundMs, batch, `${r}x${n}`));
        progress(`run ${r + 1}/${runs}: redis-benchmark`);
        base.push(redisBenchmark(redis));
      }
    }
  } finally {
    await redis.stop();
    process.stderr.write('\n');
  }
  const getPerS = median(base.map((b) => b.getPerS));
  const setPerS = median(base.map((b) => b.setPerS));
  const rows = counts.map((n) => {
    const rs = ours.filter((x) => x.schedulers === n);
    const placementsPerS = median(rs.map((x) => x.placementsPerS));
    const commandsPerPlacement = median(rs.map((x) => x.commandsPerPlacement));
    const limit = getPerS / commandsPerPlacement;
    return {
      schedulers: n,
      placementsPerS: Math.round(placementsPerS),
      p50Ms: median(rs.map((x) => x.p50Ms)),
      p99Ms: median(rs.map((x) => x.p99Ms)),
      commandsPerPlacement: Number(commandsPerPlacement.toFixed(2)),
      redisLimitPlacementsPerS: Math.round(limit),
      ratioToLimit: Number((placementsPerS / limit).toFixed(3)),
      ratioToRedisGet: Number((placementsPerS / getPerS).toFixed(4)),
      createOverran: rs.some((x) => x.createOverran),
    };
  });
  const command = `node tools/bench/dist/scheduler-main.js ${argv.join(' ')}`.trim();
  const result = {
    benchmark: 'scheduler',
    date: new Date().toISOString(),
    command,
    machine: `${process.platform} ${process.arch}, node ${process.version}, ${(await import('node:os')).cpus().length} cpus (shared)`,
    settings: { conferences: m, runs, servers: nServers, roundMs, placeBatch: batch },
    redisBenchmark: { getPerS, setPerS, runs: base },
    rows,
    runs: ours,
  };
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'scheduler.json'), `${JSON.stringify(result, null, 2)}\n`);
  const md = [
    '# Scheduler placement benchmark',
    '',
    `Command: \`${command}\` (after \`npx nx run-many -t build\`). ${result.date}, ${result.machine}.`,
    `${m} conferences per run, ${nServers} simulated servers, round ${roundMs} ms, PLACE batch ${batch}; medians of ${runs} runs.`,
    `Baseline in the same run on the same Redis: \`redis-benchmark -c 50 -n 100000 -t get,set\`: GET ${Math.round(getPerS)}/s, SET ${Math.round(setPerS)}/s.`,
    '',
    '| schedulers | placements/s | latency p50 (ms) | p99 (ms) | Redis commands / placement | Redis limit (GET/s ÷ commands) | ratio to limit |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(
      (x) =>
        `| ${x.schedulers} | ${x.placementsPerS} | ${x.p50Ms} | ${x.p99Ms} | ${x.commandsPerPlacement} | ${x.redisLimitPlacementsPerS} | ${x.ratioToLimit} |`,
    ),
    '',
    'Latency = placedAt − startAt: all conferences become due at once, so it includes the wait for the next round and',
    'the queue behind the others of the same burst. Commands per placement counts every Redis command the schedulers',
    'send (schedule store and registry, including publishing each assignment on the feed), minus their idle background',
    'rate. Everything (Redis, schedulers, fleet, load generator, redis-benchmark) shares the same cores.',
    ...(rows.some((x) => x.createOverran)
      ? [
          '',
          '**Warning**: creating the conferences overran startAt in some runs; their latency is understated.',
        ]
      : []),
    '',
  ].join('\n');
  fs.writeFileSync(path.join(outDir, 'scheduler.md'), md);
  process.stdout.write(`${md}\n`);
  return 0;
}
