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
import { tcpHandoffs, udpRoundTrips } from './dispatcher-load.js';

export interface DispatcherBenchOptions {
  durationS: number;
  start: number;
  max: number;
  refine: number;
  conferences: number;
  tcpConcurrency: number;
  tcpMs: number;
  latencyCount: number;
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
  tcpHandoffs: Record<string, { perSecond: number; done: number; errors: number }>;
  latencyUs: Record<string, { p50: number; p90: number; p99: number; lost: number }>;
  ratios: Record<string, number>;
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

  o.log('(a) one worker listening directly');
  {
    const port = await freeTcpUdpPort();
    const w = await startStandalone(port);
    callRate['a: 1 worker, direct'] = await withProcs([w], () => search(`127.0.0.1:${port}`));
  }
  for (const n of [1, 2]) {
    o.log(`(b) our dispatcher, ${n} worker(s)`);
    const port = await freeTcpUdpPort();
    const d = await startDispatcher(port, await freePort(), n);
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

  o.log('TCP hand-offs/s');
  const tcp: DispatcherBenchReport['tcpHandoffs'] = {};
  {
    const port = await freeTcpUdpPort();
    const d = await startDispatcher(port, await freePort(), 2);
    tcp['ours: dispatcher, 2 workers'] = await withProcs([d], () =>
      tcpHandoffs(port, o.tcpConcurrency, o.tcpMs),
    );
    o.log(`    ours: ${JSON.stringify(tcp['ours: dispatcher, 2 workers'])}`);
  }
  {
    const port = await freeTcpUdpPort();
    const c = await startStandalone(port, { cluster: 2 });
    tcp['node:cluster, 2 workers'] = await withProcs([c], () => tcpHandoffs(port, o.tcpConcurrency, o.tcpMs));
    o.log(`    cluster: ${JSON.stringify(tcp['node:cluster, 2 workers'])}`);
  }
  {
    const port = await freeTcpUdpPort();
    const w = await startStandalone(port);
    tcp['1 worker, direct (no hand-off)'] = await withProcs([w], () =>
      tcpHandoffs(port, o.tcpConcurrency, o.tcpMs),
    );
    o.log(`    direct: ${JSON.stringify(tcp['1 worker, direct (no hand-off)'])}`);
  }

  o.log('latency per datagram (OPTIONS round trip, one in flight)');
  const latencyUs: DispatcherBenchReport['latencyUs'] = {};
  {
    const port = await freeTcpUdpPort();
    const w = await startStandalone(port);
    latencyUs['direct'] = await withProcs([w], () => udpRoundTrips(port, o.latencyCount, 200));
  }
  {
    const port = await freeTcpUdpPort();
    const d = await startDispatcher(port, await freePort(), 1);
    latencyUs['through dispatcher'] = await withProcs([d], () => udpRoundTrips(port, o.latencyCount, 200));
  }
  latencyUs['added by the dispatcher'] = {
    p50: latencyUs['through dispatcher']!.p50 - latencyUs['direct']!.p50,
    p90: latencyUs['through dispatcher']!.p90 - latencyUs['direct']!.p90,
    p99: latencyUs['through dispatcher']!.p99 - latencyUs['direct']!.p99,
    lost: 0,
  };
  o.log(`    ${JSON.stringify(latencyUs)}`);

  const best = (k: string) => callRate[k]?.best ?? NaN;
  const ratios: Record<string, number> = {
    'dispatcher 1w / direct': best('b: dispatcher, 1 worker') / best('a: 1 worker, direct'),
    'dispatcher 2w / direct': best('b: dispatcher, 2 workers') / best('a: 1 worker, direct'),
    'dispatcher 2w / dispatcher 1w': best('b: dispatcher, 2 workers') / best('b: dispatcher, 1 worker'),
    'dispatcher 2w / Kamailio 2w': best('b: dispatcher, 2 workers') / best('c: Kamailio, 2 workers'),
    'TCP hand-offs ours / node:cluster':
      tcp['ours: dispatcher, 2 workers']!.perSecond / tcp['node:cluster, 2 workers']!.perSecond,
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
    latencyUs,
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
    '## Highest error-free call rate (SIPp uac, one conference per call from an injection file)',
    '',
    'Workers answer INVITE with 100 then 200 (`--no-ringing`) in every set-up: through Kamailio a 180 can arrive',
    "after the 200 (its processes relay in parallel), which SIPp's uac counts as unexpected.",
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
    '## TCP hand-offs per second',
    '',
    `${r.options.tcpConcurrency} client loops for ${r.options.tcpMs} ms, each: connect, one OPTIONS, read the 200, close.`,
    '',
    '| set-up | connections/s | completed | errors |',
    '|---|---:|---:|---:|',
    ...Object.entries(r.tcpHandoffs).map(
      ([k, v]) => `| ${k} | ${v.perSecond.toFixed(0)} | ${v.done} | ${v.errors} |`,
    ),
    '',
    '## Latency per datagram (OPTIONS → 200, one in flight), microseconds',
    '',
    '| path | p50 | p90 | p99 | lost |',
    '|---|---:|---:|---:|---:|',
    ...Object.entries(r.latencyUs).map(
      ([k, v]) => `| ${k} | ${v.p50.toFixed(0)} | ${v.p90.toFixed(0)} | ${v.p99.toFixed(0)} | ${v.lost} |`,
    ),
    '',
    '## Ratios',
    '',
    '| ratio | value |',
    '|---|---:|',
    ...Object.entries(r.ratios).map(([k, v]) => `| ${k} | ${Number.isFinite(v) ? v.toFixed(2) : 'n/a'} |`),
    '',
  ];
  return lines.join('\n');
}

export async function dispatcherBenchMain(argv: string[]): Promise<number> {
  const cli = parseCli(
    {
      name: 'dispatcher-bench',
      summary: 'host dispatcher vs one worker, Kamailio dispatcher and node:cluster (SIPp)',
      options: {
        quick: { type: 'boolean', doc: 'short runs (smoke test, not for the report)' },
        duration: { type: 'string', doc: 'seconds per call-rate step', defaultText: '5' },
        start: { type: 'string', doc: 'first call rate', defaultText: '250' },
        max: { type: 'string', doc: 'highest call rate tried', defaultText: '16000' },
        refine: { type: 'string', doc: 'bisection steps after the first failure', defaultText: '3' },
        'no-kamailio': { type: 'boolean', doc: 'skip the Kamailio baseline', field: 'noKamailio' },
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
    latencyCount: quick ? 300 : 3000,
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
