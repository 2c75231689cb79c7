/**
 * End-to-end benchmark: call set-up latency (INVITE → 200, SIPp's response-time timer) through all four tiers of
 * the composed stack vs through a host dispatcher alone, in one run; and conferences placed and first participant
 * connected per second.
 *
 * Method. One composed stack (the components `npm start` runs: Redis, 2 schedulers, 3 POP hosts with 1 worker each,
 * the balancer, 3 mixers; POP on 127.15.<random>.N) and one host dispatcher alone (1 worker, no POP, no balancer, on
 * 127.0.0.1) run at once. Each of `--runs` runs measures both paths back to back (which goes first alternates),
 * `--calls` calls each at `--rate` calls/s with SIPp's built-in uac (INVITE, 200, ACK, BYE), one conference per call
 * taken in turn from `--conferences` ids: four tiers = conferences placed by the schedulers and claimed by their
 * owners beforehand, every call sent to the POP's first host (calls of conferences another host owns cross the
 * tunnel), the conference's first INVITE in a worker allocating its mixer through the balancer; alone = the same
 * SIPp run against the lone dispatcher. SIPp reports response times in whole milliseconds. Medians of the runs.
 * Placement: `--place` conferences, 4 at a time: POST /v1/conferences → assignment → claimed by the owner's
 * pop-router → one SIPp participant answered 200; conferences per second = count / wall time, and the p50/p99 of
 * each conference's POST → claimed and POST → first participant's 200.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCli, type CliSpec } from '@switchyard/core';
import { freePort, freeTcpUdpPort, runSipp } from '@switchyard/launch';
import {
  placeConference,
  popHosts,
  startComposedStack,
  waitClaimed,
  waitClaimedEverywhere,
} from '@switchyard/stack';
import { startDispatcher } from './dispatcher-procs.js';

export const END_TO_END_BENCH_CLI: CliSpec = {
  name: 'bench end-to-end',
  summary:
    'call set-up latency through all four tiers vs the host dispatcher alone; conferences placed and connected per second; writes docs/benchmarks/end-to-end.{json,md}',
  options: {
    runs: { type: 'string', doc: 'runs, the two paths alternating (medians reported)', defaultText: '3' },
    calls: { type: 'string', doc: 'calls per path per run', defaultText: '300' },
    rate: { type: 'string', doc: 'calls per second', defaultText: '30' },
    conferences: { type: 'string', doc: 'conferences the calls are spread over', defaultText: '30' },
    place: {
      type: 'string',
      doc: 'conferences placed and connected for the placement rate',
      defaultText: '40',
    },
    quick: { type: 'boolean', doc: 'a short smoke run: 1 run, 20 calls, 4 conferences, 4 placed' },
    'out-dir': {
      type: 'string',
      doc: 'where to write end-to-end.json and end-to-end.md',
      defaultText: '<repo>/docs/benchmarks',
    },
    'no-write': { type: 'boolean', doc: 'print the report only' },
  },
  examples: [
    'node tools/bench/dist/main.js end-to-end',
    'node tools/bench/dist/main.js end-to-end --quick --no-write',
  ],
};

export interface Latency {
  calls: number;
  successful: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
}

export interface EndToEndReport {
  command: string;
  date: string;
  /** 1-, 5-, 15-minute load averages at the start and the end. */
  loadAverage: { start: number[]; end: number[] };
  options: { runs: number; calls: number; rate: number; conferences: number; place: number };
  runs: { fourTiers: Latency; dispatcherAlone: Latency }[];
  median: { fourTiers: Latency; dispatcherAlone: Latency; ratioP50: number; ratioP99: number };
  placement: {
    conferences: number;
    failed: number;
    /** Why each failed one failed (first 10): `place`/`claim` errors, or `sipp` for a call that did not complete. */
    failures: { id: string; stage: 'place' | 'sipp'; reason: string }[];
    wallS: number;
    perSecond: number;
    claimedP50Ms: number;
    claimedP99Ms: number;
    connectedP50Ms: number;
    connectedP99Ms: number;
  };
}

export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

const median = (xs: number[]) => percentile(xs, 50);

function medianLatency(ls: Latency[]): Latency {
  return {
    calls: median(ls.map((l) => l.calls)),
    successful: median(ls.map((l) => l.successful)),
    failed: median(ls.map((l) => l.failed)),
    p50Ms: median(ls.map((l) => l.p50Ms)),
    p99Ms: median(ls.map((l) => l.p99Ms)),
  };
}

async function measure(target: string, local: string, o: { calls: number; rate: number; confs: string[] }) {
  const r = await runSipp({
    target,
    calls: o.calls,
    rate: o.rate,
    limit: Math.max(20, o.rate * 4),
    timeoutS: Math.ceil(o.calls / o.rate) + 30,
    conferences: o.confs,
    rtt: true,
    args: ['-i', local],
  });
  const ok = (n: number) => (Number.isNaN(n) ? 0 : n);
  return {
    calls: o.calls,
    successful: ok(r.successful),
    failed: o.calls - ok(r.successful),
    p50Ms: percentile(r.rttMs, 50),
    p99Ms: percentile(r.rttMs, 99),
  } satisfies Latency;
}

function intFlag(name: string, v: unknown, dflt: number, max: number): number {
  const x = v === undefined ? dflt : Number(v);
  if (!(Number.isInteger(x) && x >= 1 && x <= max))
    throw new RangeError(`--${name} must be an integer 1..${max} (got ${String(v)})`);
  return x;
}

export async function runEndToEndBench(
  o: EndToEndReport['options'],
  log: (s: string) => void,
): Promise<Omit<EndToEndReport, 'command'>> {
  const loadStart = os.loadavg().map((x) => Number(x.toFixed(2)));
  const root = repoRoot();
  log('starting the composed stack and a lone dispatcher');
  const stack = await startComposedStack({
    root,
    hosts: 3,
    mixers: 3,
    addressPrefix: `127.15.${1 + Math.floor(Math.random() * 250)}`,
  });
  const alonePort = await freeTcpUdpPort('127.0.0.1');
  let alone: Awaited<ReturnType<typeof startDispatcher>> | undefined;
  try {
    alone = await startDispatcher(alonePort, await freePort(), 1);
    const hosts = popHosts(stack.cfg.topology);
    const tag = `${process.pid}-${Date.now().toString(36)}`;
    const confs = Array.from({ length: o.conferences }, (_, i) => `e2eb-${tag}-${i}`);
    log(`placing ${confs.length} conferences`);
    for (const c of confs) {
      const placed = await placeConference(stack.cfg, c, Math.ceil((o.calls * o.runs) / o.conferences) + 1);
      // the calls enter through hosts[0]: it must have heard the owner's claim, or it would keep the call itself
      await waitClaimedEverywhere(hosts, c, placed.epoch);
    }
    const entry = hosts[0]!;
    const runs: EndToEndReport['runs'] = [];
    for (let r = 0; r < o.runs; r++) {
      const four = () => measure(entry.sip, entry.address, { calls: o.calls, rate: o.rate, confs });
      const lone = () =>
        measure(`127.0.0.1:${alonePort}`, '127.0.0.1', { calls: o.calls, rate: o.rate, confs });
      let fourTiers: Latency;
      let dispatcherAlone: Latency;
      if (r % 2 === 0) {
        fourTiers = await four();
        dispatcherAlone = await lone();
      } else {
        dispatcherAlone = await lone();
        fourTiers = await four();
      }
      runs.push({ fourTiers, dispatcherAlone });
      log(`run ${r + 1}: four tiers ${JSON.stringify(fourTiers)}; alone ${JSON.stringify(dispatcherAlone)}`);
    }
    const m4 = medianLatency(runs.map((x) => x.fourTiers));
    const m1 = medianLatency(runs.map((x) => x.dispatcherAlone));

    log(`placing and connecting ${o.place} conferences, 4 at a time`);
    const claimed: number[] = [];
    const connected: number[] = [];
    let failed = 0;
    const failures: EndToEndReport['placement']['failures'] = [];
    const fail = (id: string, stage: 'place' | 'sipp', reason: string) => {
      failed++;
      if (failures.length < 10) failures.push({ id, stage, reason: reason.slice(0, 300) });
      log(`conference ${id} failed at ${stage}: ${reason.slice(0, 300)}`);
    };
    const started = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(4, o.place) }, async () => {
        while (next < o.place) {
          const id = `e2eb-${tag}-place-${next++}`;
          const t0 = Date.now();
          let owner: (typeof hosts)[number];
          try {
            const placed = await placeConference(stack.cfg, id, 2);
            owner = hosts.find((h) => h.id === placed.serverId)!;
            await waitClaimed(owner.router, id, placed.epoch);
            claimed.push(Date.now() - t0);
          } catch (err) {
            fail(id, 'place', err instanceof Error ? err.message : String(err));
            continue;
          }
          try {
            const r = await runSipp({
              target: owner.sip,
              calls: 1,
              rate: 1,
              timeoutS: 20,
              service: id,
              args: ['-i', owner.address],
            });
            if (r.successful === 1) connected.push(Date.now() - t0);
            else
              fail(
                id,
                'sipp',
                `exit ${r.code}, ${r.failed} failed, ${r.timeoutOnRecv} timeouts on receive, ${r.retransmissions} retransmissions: ${r.diagnostics}`,
              );
          } catch (err) {
            fail(id, 'sipp', err instanceof Error ? err.message : String(err));
          }
        }
      }),
    );
    const wallS = (Date.now() - started) / 1000;
    return {
      date: new Date().toISOString(),
      loadAverage: { start: loadStart, end: os.loadavg().map((x) => Number(x.toFixed(2))) },
      options: o,
      runs,
      median: {
        fourTiers: m4,
        dispatcherAlone: m1,
        ratioP50: Number((m4.p50Ms / Math.max(1, m1.p50Ms)).toFixed(2)),
        ratioP99: Number((m4.p99Ms / Math.max(1, m1.p99Ms)).toFixed(2)),
      },
      placement: {
        conferences: o.place,
        failed,
        failures,
        wallS: Number(wallS.toFixed(2)),
        perSecond: Number(((o.place - failed) / wallS).toFixed(2)),
        claimedP50Ms: percentile(claimed, 50),
        claimedP99Ms: percentile(claimed, 99),
        connectedP50Ms: percentile(connected, 50),
        connectedP99Ms: percentile(connected, 99),
      },
    };
  } finally {
    await alone?.stop();
    await stack.stop();
  }
}

export function renderEndToEnd(r: EndToEndReport): string {
  const row = (name: string, l: Latency) =>
    `| ${name} | ${l.successful}/${l.calls} | ${l.p50Ms} | ${l.p99Ms} |`;
  const p = r.placement;
  return [
    `Produced by \`${r.command}\` (after \`npx nx run-many -t build\`) on ${r.date}; load average ` +
      `${r.loadAverage.start.join(' ')} at the start, ${r.loadAverage.end.join(' ')} at the end (a shared 2-core machine: ` +
      'other engineers were running tests).',
    '',
    `## Call set-up latency, INVITE → 200 (medians of ${r.options.runs} runs; ${r.options.calls} calls per path per run at ${r.options.rate}/s over ${r.options.conferences} conferences)`,
    '',
    '| path | calls answered | p50 ms | p99 ms |',
    '| --- | ---: | ---: | ---: |',
    row(
      'four tiers (POP host 1 → owner → worker → mixer allocated on a conference’s first INVITE)',
      r.median.fourTiers,
    ),
    row('host dispatcher alone (1 worker, no POP, no balancer)', r.median.dispatcherAlone),
    '',
    `Ratio four tiers / alone: p50 ${r.median.ratioP50}, p99 ${r.median.ratioP99} (SIPp reports whole ms; a 0 ms ` +
      'median counts as 1 in the ratio).',
    '',
    'Per run:',
    '',
    '| run | four tiers p50 / p99 ms | alone p50 / p99 ms | four tiers answered | alone answered |',
    '| ---: | ---: | ---: | ---: | ---: |',
    ...r.runs.map(
      (x, i) =>
        `| ${i + 1} | ${x.fourTiers.p50Ms} / ${x.fourTiers.p99Ms} | ${x.dispatcherAlone.p50Ms} / ${x.dispatcherAlone.p99Ms} | ${x.fourTiers.successful}/${x.fourTiers.calls} | ${x.dispatcherAlone.successful}/${x.dispatcherAlone.calls} |`,
    ),
    '',
    `## Conferences placed and first participant connected (${p.conferences}, 4 at a time)`,
    '',
    '| conferences/s | failed | wall s | POST → claimed p50 / p99 ms | POST → first participant 200 p50 / p99 ms |',
    '| ---: | ---: | ---: | ---: | ---: |',
    `| ${p.perSecond} | ${p.failed} | ${p.wallS} | ${p.claimedP50Ms} / ${p.claimedP99Ms} | ${p.connectedP50Ms} / ${p.connectedP99Ms} |`,
    '',
    ...p.failures.map((f) => `- failed: \`${f.id}\` at ${f.stage}: ${f.reason.replace(/\s+/g, ' ')}`),
    ...(p.failures.length ? [''] : []),
    'The "first participant" time includes starting one SIPp process per conference (tens of ms on an idle machine).',
    '',
  ].join('\n');
}

/** CLI entry: `end-to-end [--runs R] [--calls N] [--rate R] [--conferences C] [--place P] [--quick] [--out-dir D]`. */
export async function endToEndBenchMain(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
): Promise<number> {
  const cli = parseCli(END_TO_END_BENCH_CLI, argv, {});
  if (cli.help) {
    out(cli.text);
    return 0;
  }
  const v = cli.values as Record<string, string | boolean | undefined>;
  const quick = v['quick'] === true;
  let o: EndToEndReport['options'];
  try {
    o = {
      runs: intFlag('runs', v['runs'], quick ? 1 : 3, 20),
      calls: intFlag('calls', v['calls'], quick ? 20 : 300, 100_000),
      rate: intFlag('rate', v['rate'], quick ? 10 : 30, 5000),
      conferences: intFlag('conferences', v['conferences'], quick ? 4 : 30, 10_000),
      place: intFlag('place', v['place'], quick ? 4 : 40, 10_000),
    };
  } catch (err) {
    out(`bench end-to-end: ${(err as Error).message} (see --help)\n`);
    return 2;
  }
  const command = ['node tools/bench/dist/main.js end-to-end', ...argv].join(' ');
  const report: EndToEndReport = {
    command,
    ...(await runEndToEndBench(o, (l) => process.stderr.write(`  ${l}\n`))),
  };
  const md = `# End-to-end benchmark\n\n${renderEndToEnd(report)}`;
  out(md);
  if (!v['noWrite']) {
    const dir =
      typeof v['outDir'] === 'string' ? path.resolve(v['outDir']) : path.join(repoRoot(), 'docs/benchmarks');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'end-to-end.json'), `${JSON.stringify(report, null, 2)}\n`);
    fs.writeFileSync(path.join(dir, 'end-to-end.md'), md);
  }
  return 0;
}

function repoRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
}
