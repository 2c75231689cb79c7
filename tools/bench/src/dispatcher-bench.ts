/**
 * The host dispatcher against its baselines, side by side in one run:
 *  - highest error-free SIPp call rate: (a) one worker listening directly, (b) our dispatcher with 1 and 2 workers,
 *    (c) Kamailio's dispatcher module (Request-URI hash) in front of two of the same workers;
 *  - TCP hand-offs/s: ours (read the first message, pass the socket to the chosen worker) against node:cluster
 *    (round-robin, passes the socket without reading);
 *  - the latency one dispatcher hop adds per datagram (p50/p99 of an OPTIONS round trip, direct vs through it).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseCli } from '@switchyard/core';
import { freePort, freeTcpUdpPort } from '@switchyard/launch';
import { startDispatcher, startKamailio, startStandalone, type Proc } from './dispatcher-procs.js';
import { maxErrorFreeRate, type SippOutcome } from './dispatcher-sipp.js';
import { tcpHandoffs } from './dispatcher-load.js';
import { steeringLatency, steeringSection, type SteeringRuns } from './dispatcher-steering.js';
import {
  cpuPerCall,
  cpuSeconds,
  latencyAlternating,
  overloadGoodput,
  type CpuPerCall,
  type LatencyRuns,
  type OverloadRun,
} from './dispatcher-extra.js';

/** The parts of the benchmark, each runnable alone (`--sections`). */
export const DISPATCHER_SECTIONS = ['rate', 'tcp', 'latency', 'cpu', 'overload', 'steering'] as const;
export type DispatcherSection = (typeof DISPATCHER_SECTIONS)[number];

export interface DispatcherBenchOptions {
  durationS: number;
  start: number;
  max: number;
  refine: number;
  conferences: number;
  tcpConcurrency: number;
  tcpMs: number;
  /** TCP runs (each measures every set-up; medians reported). */
  tcpRuns: number;
  latencyCount: number;
  /** Alternating latency runs (the report gives their median). */
  latencyRuns: number;
  /** Calls/s of the CPU-per-call run. */
  cpuRate: number;
  /** Capacity for the overload run when the call-rate search did not run (else its result for 2 workers). */
  capacity: number;
  sections: DispatcherSection[];
  kamailio: boolean;
  out: string;
  log: (s: string) => void;
}

export interface DispatcherBenchReport {
  date: string;
  command: string;
  machine: { cpus: number; model: string; loadAvg: number[]; node: string; sipp: string; kamailio: string };
  options: Omit<DispatcherBenchOptions, 'log' | 'out'>;
  callRate: Record<string, { best: number; runs: SippOutcome[] }>;
  tcpHandoffs: Record<string, TcpRun>;
  latency: LatencyRuns | undefined;
  /** Latency with kernel steering off and on (section `steering`, branch dsteer). */
  steering?: SteeringRuns | undefined;
  cpu: CpuPerCall | undefined;
  overload: (OverloadRun & { capacitySource?: string }) | undefined;
  ratios: Record<string, number>;
}

/** The TCP set-up of the base build, when BENCH_DISPATCHER_BASE_MAIN names one. */
const BASE_SETUP = 'base build: dispatcher, 2 workers';

/** One TCP set-up: connections/s and the CPU (from /proc) its processes spent per connection. */
export interface TcpRun {
  perSecond: number;
  done: number;
  errors: number;
  /** The accepting process alone (our primary; cluster's primary; the single worker), µs per connection. */
  acceptorUsPerConn: number;
  /** The accepting process and its children (the workers), µs per connection. */
  totalUsPerConn: number;
}

/** tcpHandoffs with the CPU time of `pid` and its children around it. */
async function tcpRun(pid: number, port: number, o: DispatcherBenchOptions): Promise<TcpRun> {
  // warm-up, not counted: the first connections of a fresh process run cold code (JIT), which would dominate a short run
  await tcpHandoffs(port, o.tcpConcurrency, Math.min(1_000, o.tcpMs / 4));
  const before = cpuSeconds(pid);
  const r = await tcpHandoffs(port, o.tcpConcurrency, o.tcpMs);
  const after = cpuSeconds(pid);
  const per = (s: number) => (s / Math.max(1, r.done)) * 1e6;
  return {
    ...r,
    acceptorUsPerConn: per(after.self - before.self),
    totalUsPerConn: per(after.self + after.children - before.self - before.children),
  };
}

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const n = v.length;
  return n === 0 ? NaN : n % 2 ? v[(n - 1) / 2]! : (v[n / 2 - 1]! + v[n / 2]!) / 2;
}

/** Each field's median over the runs (runs under changing load: the median resists one disturbed run). */
function medianRun(rs: TcpRun[]): TcpRun {
  const med = (f: (r: TcpRun) => number) => median(rs.map(f));
  return {
    perSecond: med((r) => r.perSecond),
    done: med((r) => r.done),
    errors: rs.reduce((a, r) => a + r.errors, 0),
    acceptorUsPerConn: med((r) => r.acceptorUsPerConn),
    totalUsPerConn: med((r) => r.totalUsPerConn),
  };
}

async function withProcs<T>(procs: Proc[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    for (const p of procs.reverse()) await p.stop();
  }
}

export async function runDispatcherBench(
  o: DispatcherBenchOptions,
  command: string,
): Promise<DispatcherBenchReport> {
  const callRate: DispatcherBenchReport['callRate'] = {};
  const search = (target: string) =>
    maxErrorFreeRate(target, {
      start: o.start,
      max: o.max,
      durationS: o.durationS,
      conferences: o.conferences,
      refine: o.refine,
      log: o.log,
    });

  const want = (s: DispatcherSection) => o.sections.includes(s);
  if (want('rate')) {
    o.log('(a) one worker listening directly');
    {
      const port = await freeTcpUdpPort();
      const w = await startStandalone(port);
      callRate['a: 1 worker, direct'] = await withProcs([w], () => search(`127.0.0.1:${port}`));
    }
    for (const n of [1, 2]) {
      o.log(`(b) our dispatcher, ${n} worker(s)`);
      const port = await freeTcpUdpPort();
      // overload control off: the search measures what the path carries, not the admission setting (2,000 new
      // calls/s per worker by default), which the goodput section below sets to the capacity found here
      const d = await startDispatcher(port, await freePort(), n, ['--new-calls-per-worker-per-s', '0']);
      callRate[`b: dispatcher, ${n} worker${n > 1 ? 's' : ''}`] = await withProcs([d], () =>
        search(`127.0.0.1:${port}`),
      );
    }
    if (o.kamailio) {
      o.log('(c) Kamailio dispatcher (R-URI hash) in front of 2 workers');
      const p1 = await freeTcpUdpPort();
      const w1 = await startStandalone(p1);
      const p2 = await freeTcpUdpPort();
      const w2 = await startStandalone(p2);
      const kp = await freeTcpUdpPort();
      const k = await startKamailio(kp, [p1, p2]);
      callRate['c: Kamailio, 2 workers'] = await withProcs([w1, w2, k], () => search(`127.0.0.1:${kp}`));
    }
  }

  const tcp: DispatcherBenchReport['tcpHandoffs'] = {};
  /** Ours against the base build, run by run (each pair measured in the same round, a few seconds apart). */
  let vsBase: { acceptor: number; total: number } | undefined;
  if (want('tcp')) {
    o.log(`TCP hand-offs/s: ${o.tcpRuns} runs, the order of the set-ups rotating`);
    const procs: Proc[] = [];
    await withProcs(procs, async () => {
      const setups: { name: string; pid: number; port: number }[] = [];
      const add = async (name: string, start: (port: number) => Promise<Proc>) => {
        const port = await freeTcpUdpPort();
        const p = await start(port);
        procs.push(p);
        setups.push({ name, pid: p.pid, port });
      };
      await add('ours: dispatcher, 2 workers', async (port) => startDispatcher(port, await freePort(), 2));
      // BENCH_DISPATCHER_BASE_MAIN: the main.js of another build (the base of a change), run beside ours in the same
      // rotation, so a change is judged by CPU per connection measured side by side, not against an older report
      const base = process.env['BENCH_DISPATCHER_BASE_MAIN'];
      if (base) {
        await add(BASE_SETUP, async (port) => startDispatcher(port, await freePort(), 2, [], base));
      }
      await add('node:cluster, 2 workers', (port) => startStandalone(port, { cluster: 2 }));
      await add('1 worker, direct (no hand-off)', (port) => startStandalone(port));
      const runs = new Map<string, TcpRun[]>(setups.map((x) => [x.name, []]));
      for (let i = 0; i < o.tcpRuns; i++) {
        for (let j = 0; j < setups.length; j++) {
          const x = setups[(i + j) % setups.length]!;
          const r = await tcpRun(x.pid, x.port, o);
          runs.get(x.name)!.push(r);
          o.log(`    run ${i + 1} ${x.name}: ${JSON.stringify(r)}`);
        }
      }
      for (const [name, rs] of runs) tcp[name] = medianRun(rs);
      const ours = runs.get('ours: dispatcher, 2 workers')!;
      const b = runs.get(BASE_SETUP);
      if (b) {
        const paired = (f: (r: TcpRun) => number) => median(ours.map((r, i) => f(r) / f(b[i]!)));
        vsBase = { acceptor: paired((r) => r.acceptorUsPerConn), total: paired((r) => r.totalUsPerConn) };
      }
    });
  }

  let latency: LatencyRuns | undefined;
  if (want('latency')) {
    o.log(`latency per datagram: ${o.latencyRuns} alternating runs of ${o.latencyCount} OPTIONS round trips`);
    latency = await latencyAlternating(o.latencyRuns, o.latencyCount);
    o.log(
      `    added p50 ${latency.addedP50Us.toFixed(0)} µs, p99 ${latency.addedP99Us.toFixed(0)} µs (medians)`,
    );
  }
  const steering = want('steering') ? await steeringLatency(o.latencyRuns, o.latencyCount) : undefined;
  let cpu: CpuPerCall | undefined;
  if (want('cpu')) {
    o.log(`CPU per call at ${o.cpuRate} calls/s: the primary vs Kamailio`);
    cpu = await cpuPerCall(o.cpuRate, o.durationS * 2, o.conferences, o.kamailio);
    o.log(`    ${JSON.stringify(cpu)}`);
  }
  let overload: DispatcherBenchReport['overload'];
  if (want('overload')) {
    const found = callRate['b: dispatcher, 2 workers']?.best;
    const capacity = found && found > 0 ? found : o.capacity;
    o.log(`goodput at 2 × ${capacity} calls/s with overload control`);
    overload = {
      ...(await overloadGoodput(capacity, o.durationS * 2, o.conferences)),
      // the goal is relative to the dispatcher's real capacity: say whether this one was measured in this run
      capacitySource:
        found && found > 0
          ? "measured: the call-rate search's highest error-free rate of this run, 2 workers"
          : 'assumed: `--capacity` (the call-rate search did not run), not a measured capacity',
    };
    o.log(`    ${JSON.stringify(overload)}`);
  }

  const best = (k: string) => callRate[k]?.best ?? NaN;
  const ratios: Record<string, number> = {
    'dispatcher 1w / direct': best('b: dispatcher, 1 worker') / best('a: 1 worker, direct'),
    'dispatcher 2w / direct': best('b: dispatcher, 2 workers') / best('a: 1 worker, direct'),
    'dispatcher 2w / dispatcher 1w': best('b: dispatcher, 2 workers') / best('b: dispatcher, 1 worker'),
    'dispatcher 2w / Kamailio 2w': best('b: dispatcher, 2 workers') / best('c: Kamailio, 2 workers'),
    'TCP hand-offs ours / node:cluster':
      (tcp['ours: dispatcher, 2 workers']?.perSecond ?? NaN) /
      (tcp['node:cluster, 2 workers']?.perSecond ?? NaN),
    'TCP CPU per connection with workers, ours / node:cluster':
      (tcp['ours: dispatcher, 2 workers']?.totalUsPerConn ?? NaN) /
      (tcp['node:cluster, 2 workers']?.totalUsPerConn ?? NaN),
    'TCP CPU per connection of the acceptor, ours / node:cluster':
      (tcp['ours: dispatcher, 2 workers']?.acceptorUsPerConn ?? NaN) /
      (tcp['node:cluster, 2 workers']?.acceptorUsPerConn ?? NaN),
    'TCP CPU per connection of the acceptor, ours / base build (median of per-run ratios)':
      vsBase?.acceptor ?? NaN,
    'TCP CPU per connection with workers, ours / base build (median of per-run ratios)': vsBase?.total ?? NaN,
    'CPU per call: primary / Kamailio': (cpu?.primaryUs ?? NaN) / (cpu?.kamailioUs ?? NaN),
    'goodput at 2x capacity / capacity': overload?.ratio ?? NaN,
  };
  const version = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' }).split('\n')[0]!.trim();
    } catch (err) {
      // sipp -v exits non-zero after printing
      return (
        String((err as { stdout?: string }).stdout ?? '')
          .split('\n')
          .find((l) => l.trim())
          ?.trim() ?? 'unknown'
      );
    }
  };
  const { log: _log, out: _out, ...options } = o;
  return {
    date: new Date().toISOString(),
    command,
    machine: {
      cpus: os.cpus().length,
      model: os.cpus()[0]?.model ?? 'unknown',
      loadAvg: os.loadavg().map((x) => Math.round(x * 100) / 100),
      node: process.version,
      sipp: version('sipp', ['-v']),
      kamailio: o.kamailio ? version('kamailio', ['-v']) : 'skipped',
    },
    options,
    callRate,
    tcpHandoffs: tcp,
    latency,
    steering,
    cpu,
    overload,
    ratios,
  };
}

export function renderMarkdown(r: DispatcherBenchReport): string {
  const lines = [
    '# Host dispatcher benchmark',
    '',
    `Produced by \`${r.command}\` on ${r.date}.`,
    '',
    `Machine: ${r.machine.cpus} × ${r.machine.model}, load average at the end ${r.machine.loadAvg.join(' / ')} (other work was sharing the cores), Node ${r.machine.node}, ${r.machine.sipp}, ${r.machine.kamailio}.`,
    'SIPp, the dispatcher, its workers and Kamailio all share the same cores, so every figure is a floor set by this',
    'machine, and the ratios matter more than the absolute numbers.',
    '',
    ...(Object.keys(r.callRate).length === 0
      ? []
      : [
          '## Highest error-free call rate (SIPp uac, one conference per call from an injection file)',
          '',
          'Workers answer INVITE with 100 then 200 (`--no-ringing`) in every set-up: through Kamailio a 180 can arrive',
          "after the 200 (its processes relay in parallel), which SIPp's uac counts as unexpected. Our dispatcher runs",
          'with overload control off here (`--new-calls-per-worker-per-s 0`): the search measures what the path carries.',
          "SIPp sends ACK and BYE to the 200's Contact (RFC 3261 §12.2.1.1); Kamailio relays those to their Request-URI.",
          `Each step runs ${r.options.durationS} s of calls; a rate counts when every call succeeded, with no unexpected`,
          'message, and SIPp achieved at least 85 % of the asked rate (retransmissions allowed: they are counted, and the',
          'next column gives the highest rate among those runs with retransmissions under 1 % of calls). Doubling from',
          `${r.options.start} calls/s, then ${r.options.refine} bisection steps.`,
          '',
          '| set-up | highest error-free calls/s | of which with < 1 % retransmissions | runs (calls/s: result, retransmissions) |',
          '|---|---:|---:|---|',
          ...Object.entries(r.callRate).map(([k, v]) => {
            const clean = Math.max(
              0,
              ...v.runs.filter((x) => x.ok && x.retransmissions < x.calls * 0.01).map((x) => x.rate),
            );
            const runs = v.runs
              .map(
                (x) =>
                  `${x.rate}: ${x.ok ? 'ok' : `FAIL (${x.failed} failed, ${x.unexpected} unexp., ${x.achieved.toFixed(0)}/s achieved)`}, ${x.retransmissions} rtx`,
              )
              .join('; ');
            return `| ${k} | ${v.best} | ${clean} | ${runs} |`;
          }),
          '',
        ]),
    ...(Object.keys(r.tcpHandoffs).length === 0
      ? []
      : [
          '## TCP hand-offs per second',
          '',
          `${r.options.tcpConcurrency} client loops for ${r.options.tcpMs} ms, each: connect, one OPTIONS, read the 200, close;`,
          `${r.options.tcpRuns ?? 1} run(s), every set-up running throughout, the order rotating; medians of the runs.`,
          '',
          "CPU from /proc (user + system) per completed connection: of the accepting process (our primary, cluster's",
          'primary, the single worker), and of it with its workers. On a loaded machine CPU per connection varies less',
          'than connections/s, but it still grows when each connection is handled alone (no batching per wake-up).',
          '',
          '| set-up | connections/s | completed | errors | µs CPU/conn, acceptor | µs CPU/conn, with workers |',
          '|---|---:|---:|---:|---:|---:|',
          ...Object.entries(r.tcpHandoffs).map(
            ([k, v]) =>
              `| ${k} | ${v.perSecond.toFixed(0)} | ${v.done} | ${v.errors} | ${v.acceptorUsPerConn.toFixed(0)} | ${v.totalUsPerConn.toFixed(0)} |`,
          ),
          '',
        ]),
    ...latencySection(r.latency),
    ...steeringSection(r.steering),
    ...cpuSection(r.cpu),
    ...overloadSection(r.overload),
    '## Ratios',
    '',
    '| ratio | value |',
    '|---|---:|',
    ...Object.entries(r.ratios)
      .filter(([, v]) => Number.isFinite(v))
      .map(([k, v]) => `| ${k} | ${v.toFixed(2)} |`),
    '',
  ];
  return lines.join('\n');
}

function latencySection(l: LatencyRuns | undefined): string[] {
  if (!l) return [];
  const f = (x: number) => x.toFixed(0);
  return [
    '## Latency added per datagram (OPTIONS → 200, one in flight), microseconds',
    '',
    `${l.runs} runs alternating between one worker listening directly and the dispatcher with one worker (both`,
    'running throughout; each run measures both, the order alternating). Goal (issue 9): added p50 ≤ 25 µs,',
    'p99 ≤ 250 µs, as the median over the runs.',
    '',
    '| run | direct p50 | direct p99 | dispatcher p50 | dispatcher p99 | added p50 | added p99 |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...l.perRun.map(
      (r, i) =>
        `| ${i + 1} | ${f(r.direct.p50)} | ${f(r.direct.p99)} | ${f(r.dispatcher.p50)} | ${f(r.dispatcher.p99)} | ${f(r.dispatcher.p50 - r.direct.p50)} | ${f(r.dispatcher.p99 - r.direct.p99)} |`,
    ),
    `| **median** | | | | | **${f(l.addedP50Us)}** | **${f(l.addedP99Us)}** |`,
    '',
    `Lost datagrams: ${l.lost}.`,
    '',
  ];
}

function cpuSection(c: CpuPerCall | undefined): string[] {
  if (!c) return [];
  const f = (x: number | undefined) => (x === undefined ? 'n/a' : x.toFixed(1));
  return [
    '## CPU time per call (from /proc, user + system)',
    '',
    `SIPp uac at ${c.rate} calls/s (${c.calls} calls, ${c.successful} successful through ours): the same calls through`,
    'our dispatcher (2 workers) and through Kamailio (all its processes) in front of 2 standalone workers.',
    '',
    '| process | µs CPU per call |',
    '|---|---:|',
    `| our primary (routing only) | ${f(c.primaryUs)} |`,
    `| our 2 workers (the SIP work) | ${f(c.ourWorkersUs)} |`,
    `| Kamailio dispatcher, all processes | ${f(c.kamailioUs)} |`,
    '',
  ];
}

function overloadSection(o: DispatcherBenchReport['overload']): string[] {
  if (!o) return [];
  return [
    '## Goodput at twice the capacity (overload control on)',
    '',
    `Capacity ${o.capacity} calls/s (${o.capacitySource ?? 'source not recorded'}; admission set to it: ${Math.round(o.capacity / 2)} new calls/s per worker, 2 workers);`,
    o.offerMeasured
      ? `SIPp is asked for ${o.offered} calls/s; it took ${o.offerS.toFixed(1)} s to place them (read from its statistics file,` +
        '\nwhich it rewrites once a second: within about a second). Refused calls get 503'
      : `SIPp is asked for ${o.offered} calls/s; the time it took to place them could not be read from its statistics: the` +
        `\noffer is taken as SIPp's whole run (${o.offerS.toFixed(1)} s), a lower bound of goodput. Refused calls get 503`,
    'from the primary (they fail in SIPp).',
    'Goal (issue 9): goodput ≥ 90 % of capacity. Goodput is the successful calls per second of offer; the last',
    "column divides by SIPp's whole run instead (the last calls completing and any timeouts after the offer: a lower",
    'bound). The admission bucket starts full (half a second of capacity), and the offer is timed to about a second:',
    'a short run can show a few % above 1.',
    '',
    '| capacity | offered | successful | failed (refused) | SIPp retransmissions | goodput calls/s | goodput / capacity | per second of the whole run (s) |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
    `| ${o.capacity} | ${o.offered} | ${o.successful} | ${o.failed} | ${o.retransmissions} | ${o.goodput.toFixed(0)} | **${o.ratio.toFixed(2)}** | ${o.goodputElapsed.toFixed(0)} (${o.elapsedS.toFixed(1)}) |`,
    '',
  ];
}

export async function dispatcherBenchMain(argv: string[]): Promise<number> {
  const cli = parseCli(
    {
      name: 'dispatcher-bench',
      summary: 'host dispatcher vs one worker, Kamailio dispatcher and node:cluster (SIPp)',
      options: {
        quick: { type: 'boolean', doc: 'short runs (smoke test, not for the report)' },
        'tcp-runs': { type: 'string', doc: 'TCP hand-off runs (medians reported)', defaultText: '3' },
        duration: { type: 'string', doc: 'seconds per call-rate step', defaultText: '5' },
        start: { type: 'string', doc: 'first call rate', defaultText: '250' },
        max: { type: 'string', doc: 'highest call rate tried', defaultText: '16000' },
        refine: { type: 'string', doc: 'bisection steps after the first failure', defaultText: '3' },
        'no-kamailio': { type: 'boolean', doc: 'skip the Kamailio baseline', field: 'noKamailio' },
        sections: {
          type: 'string',
          doc: `comma-separated parts to run (${DISPATCHER_SECTIONS.join(',')})`,
          defaultText: 'all',
        },
        capacity: {
          type: 'string',
          doc: 'capacity (calls/s) for the overload run when the rate search is not run',
          defaultText: '4000',
        },
        out: { type: 'string', doc: 'report directory', defaultText: 'docs/benchmarks' },
      },
      examples: [
        'node tools/bench/dist/main.js dispatcher',
        'node tools/bench/dist/main.js dispatcher --quick --out /tmp',
      ],
    },
    argv,
  );
  if (cli.help) {
    process.stdout.write(cli.text);
    return 0;
  }
  const v = cli.values as Record<string, string | boolean | undefined>;
  const quick = v['quick'] === true;
  const num = (k: string, def: number) => (v[k] === undefined ? def : Number(v[k]));
  const o: DispatcherBenchOptions = {
    durationS: num('duration', quick ? 2 : 5),
    start: num('start', quick ? 200 : 250),
    max: num('max', quick ? 400 : 16000),
    refine: num('refine', quick ? 0 : 3),
    conferences: 200,
    tcpConcurrency: 32,
    tcpMs: quick ? 1000 : 4000,
    // parseCli keys values by the camelCase field (`--tcp-runs` → tcpRuns): by the flag name it was ignored
    tcpRuns: num('tcpRuns', quick ? 1 : 3),
    latencyCount: quick ? 300 : 3000,
    latencyRuns: quick ? 3 : 5,
    cpuRate: quick ? 100 : 2000,
    capacity: num('capacity', quick ? 100 : 4000),
    sections: parseSections(v['sections']),
    kamailio: v['noKamailio'] !== true,
    out: String(v['out'] ?? 'docs/benchmarks'),
    log: (s) => process.stdout.write(`${s}\n`),
  };
  const command = `node tools/bench/dist/main.js dispatcher ${argv.join(' ')}`.trim();
  const report = await runDispatcherBench(o, command);
  fs.mkdirSync(o.out, { recursive: true });
  fs.writeFileSync(path.join(o.out, 'host-dispatcher.json'), JSON.stringify(report, null, 2) + '\n');
  const md = renderMarkdown(report);
  fs.writeFileSync(path.join(o.out, 'host-dispatcher.md'), md);
  process.stdout.write(`\n${md}\nwritten to ${path.join(o.out, 'host-dispatcher.md')}\n`);
  return 0;
}

function parseSections(v: string | boolean | undefined): DispatcherSection[] {
  if (v === undefined || v === true || v === 'all') return [...DISPATCHER_SECTIONS];
  const parts = String(v)
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  for (const p of parts)
    if (!(DISPATCHER_SECTIONS as readonly string[]).includes(p))
      throw new Error(`unknown section ${p} (known: ${DISPATCHER_SECTIONS.join(', ')})`);
  return parts as DispatcherSection[];
}
