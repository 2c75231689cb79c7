/**
 * SIPp call rate through the namespace POP (issue 10), root: `NetnsPop` (C13, @switchyard/launch) with 3 hosts in
 * `vxlan` mode behind the ECMP router, SIPp in the client namespace calling the VIP with a socket per call (`-t un`,
 * so ECMP spreads the calls of one conference over the hosts and the non-owners forward them). For each offered rate:
 * - `stable`: every nexthop in the route the whole run;
 * - `nexthop-removed`: `ip route replace` with one nexthop fewer halfway through the run (restored after it), so
 *   flows of calls in progress land on other hosts mid-dialog and are forwarded to their owners.
 * The error-free call rate is the highest offered rate whose runs all ended with 0 failed calls.
 *
 * Then TCP under a route change (issue 10: "what happens when the route changes under it, measured"): `tcpConns`
 * TCP connections from the client to the VIP, one OPTIONS answered on each, the route replaced with one nexthop
 * fewer, one more OPTIONS on each: counted as answered, reset, or silent (no answer within the bound).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseCli, type CliSpec } from '@switchyard/core';
import { NETNS_POP_CLIENT, NetnsPop, runSipp, type NetnsPopHost } from '@switchyard/launch';
import { int, median } from './pop-convergence.js';
import type { Subcommand } from './subcommand.js';

export const CALL_SCENARIOS = ['stable', 'nexthop-removed'] as const;
export type CallScenario = (typeof CALL_SCENARIOS)[number];

export interface PopCallsOptions {
  runs: number;
  rates: number[];
  seconds: number;
  tcpConns: number;
  /** The pop-routers' gossip timers (`lan`: production's; `test`: 200 ms rounds, see the report). */
  gossipProfile: 'lan' | 'test';
  out: string;
}

export interface PopCallsResult {
  scenario: CallScenario;
  rate: number;
  run: number;
  calls: number;
  successful: number;
  failed: number;
  retransmissions: number;
  elapsedMs: number;
  callsPerS: number;
  /** datagrams the non-owners forwarded during the run (all hosts) */
  forwarded: number;
  /** affinity violations counted by the dispatchers during the run (all hosts) */
  violations: number;
  /** SIPp's failure counters: unexpected message, max UDP retransmissions, receive timeout */
  unexpected: number;
  maxUdpRetrans: number;
  timeoutOnRecv: number;
  /** dialogs the workers opened (all hosts) minus calls SIPp created: > 0 means a call was answered twice */
  extraDialogs: number;
  /** owner tokens naming a host a non-owner's table had as not alive (`token_stale`, all hosts) */
  tokenStale: number;
  /** retransmissions/CANCELs of forwarded calls sent where their INVITE went (`followed`, all hosts) */
  followed: number;
  /** SIPp's aborted calls by what they received, e.g. `while expecting '200' (index 8): SIP/2.0 481 …` */
  causes: Record<string, number>;
  loadavg: number;
}

export interface TcpRouteChange {
  connections: number;
  /** answered before the change (sanity: should be all) */
  before: number;
  answered: number;
  reset: number;
  silent: number;
  /** the connections' hosts before the change, by host id (from the dispatcher's Via-less reply: see the agent) */
  removedHost: string;
}

const spec: CliSpec = {
  name: 'pop-calls',
  summary:
    'SIPp error-free call rate through the namespace POP (vxlan, ECMP over 3 hosts): stable vs one nexthop removed; TCP under a route change (root)',
  options: {
    runs: { type: 'string', doc: 'runs of every rate and scenario (order rotating)', defaultText: '3' },
    rates: { type: 'string', doc: 'offered call rates, calls/s, comma separated', defaultText: '25,50,100' },
    seconds: {
      type: 'string',
      doc: 'length of one run at its rate (calls = rate × seconds)',
      defaultText: '8',
    },
    'tcp-conns': {
      type: 'string',
      doc: 'TCP connections in the route-change measurement',
      defaultText: '24',
    },
    'gossip-profile': {
      type: 'string',
      doc: "the pop-routers' gossip timers: lan (production's, 1 s rounds) or test (200 ms rounds)",
      defaultText: 'lan',
    },
    quick: { type: 'boolean', doc: 'smoke run: 1 run at 10 calls/s for 2 s, 6 TCP connections' },
    out: { type: 'string', doc: 'report directory', defaultText: 'docs/benchmarks' },
  },
};

export function parsePopCallsOptions(argv: string[]): PopCallsOptions | { help: string } {
  const r = parseCli(spec, argv, {});
  if (r.help) return { help: r.text };
  const v = r.values;
  const quick = v['quick'] === true;
  const rates = String(v['rates'] ?? (quick ? '10' : '25,50,100'))
    .split(',')
    .map((x) => int(x.trim(), 0, 'rates'));
  return {
    runs: int(v['runs'], quick ? 1 : 3, 'runs'),
    rates,
    seconds: int(v['seconds'], quick ? 2 : 8, 'seconds'),
    tcpConns: int(v['tcpConns'], quick ? 6 : 24, 'tcp-conns'),
    gossipProfile: gossipProfileOf(v['gossipProfile']),
    out: String(v['out'] ?? 'docs/benchmarks'),
  };
}

function gossipProfileOf(v: unknown): 'lan' | 'test' {
  const p = String(v ?? 'lan');
  if (p !== 'lan' && p !== 'test') throw new Error(`--gossip-profile: lan or test, got ${p}`);
  return p;
}

/**
 * SIPp's aborted calls from its errors log, by what they were waiting for and the first line they got instead
 * (`Aborting call on unexpected message for Call-Id '…': while expecting '200' (index 8), received 'SIP/2.0 481 …`).
 */
export function sippFailureCauses(errorsLog: string): Record<string, number> {
  const out: Record<string, number> = {};
  const re = /Aborting call on unexpected message for Call-Id '[^']*': (while [^,]+), received '([^\r\n']+)/g;
  for (const m of errorsLog.matchAll(re)) {
    const k = `${m[1]}: ${m[2]!.trim()}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

async function sum(pop: NetnsPop, name: string, match = ''): Promise<number> {
  let s = 0;
  for (const h of pop.hosts) s += await pop.dispatcherMetric(h, name, match).catch(() => NaN);
  return s;
}

async function oneRun(
  pop: NetnsPop,
  scenario: CallScenario,
  rate: number,
  run: number,
  o: PopCallsOptions,
): Promise<PopCallsResult> {
  const calls = rate * o.seconds;
  // 4 participants per conference, interleaved: one conference's calls come from 4 source ports
  const confs = Array.from(
    { length: Math.max(1, Math.ceil(calls / 4)) },
    (_, i) => `pc${run}${scenario[0]}${rate}-${i}`,
  );
  const list = Array.from({ length: calls }, (_, i) => confs[i % confs.length]!);
  const fwd0 = await sum(pop, 'sipdisp_pop_events', 'event="forwarded"');
  const vio0 = await sum(pop, 'sipdisp_violations_total');
  const dlg0 = await sum(pop, 'sipdisp_sessions_opened_total');
  const stale0 = await sum(pop, 'sipdisp_pop_events', 'event="token_stale"');
  const fol0 = await sum(pop, 'sipdisp_pop_events', 'event="followed"');
  const sipp = runSipp({
    netns: pop.client,
    localIp: NETNS_POP_CLIENT,
    target: `${pop.vip}:5060`,
    calls,
    rate,
    limit: Math.max(20, rate * 2),
    conferences: list,
    transport: 'un',
    callLengthMs: 1000,
    timeoutS: o.seconds + 60,
    args: ['-buff_size', '4194304'],
  });
  if (scenario === 'nexthop-removed') {
    await new Promise((r) => setTimeout(r, (o.seconds * 1000) / 2));
    await pop.routeVia(pop.hosts.slice(0, -1));
  }
  const r = await sipp;
  if (scenario === 'nexthop-removed') await pop.routeVia(pop.hosts);
  return {
    scenario,
    rate,
    run,
    calls,
    successful: r.successful,
    failed: r.failed,
    retransmissions: r.retransmissions,
    elapsedMs: r.elapsedMs,
    callsPerS: r.successful / (r.elapsedMs / 1000),
    forwarded: (await sum(pop, 'sipdisp_pop_events', 'event="forwarded"')) - fwd0,
    violations: (await sum(pop, 'sipdisp_violations_total')) - vio0,
    unexpected: r.unexpected,
    maxUdpRetrans: r.maxUdpRetrans,
    timeoutOnRecv: r.timeoutOnRecv,
    extraDialogs: (await sum(pop, 'sipdisp_sessions_opened_total')) - dlg0 - r.created,
    tokenStale: (await sum(pop, 'sipdisp_pop_events', 'event="token_stale"')) - stale0,
    followed: (await sum(pop, 'sipdisp_pop_events', 'event="followed"')) - fol0,
    causes: sippFailureCauses(r.diagnostics),
    loadavg: os.loadavg()[0]!,
  };
}

/**
 * The TCP client, run in the client namespace: opens `n` connections to VIP:5060, sends one OPTIONS on each and
 * waits for its answer, prints `ready`, waits for a line on stdin (the route change), sends one more OPTIONS on each
 * and prints one JSON line: per connection `answered`, `reset` (ECONNRESET/EPIPE) or `silent` (no answer in 5 s).
 */
const TCP_AGENT = String.raw`
const net = require('net');
const [vip, n, from] = [process.argv[1], Number(process.argv[2]), process.argv[3]];
const opts = (i, k) => 'OPTIONS sip:tcpprobe-' + i + '@' + vip + ' SIP/2.0\r\nVia: SIP/2.0/TCP ' + from + ':5999;branch=z9hG4bK-t' + i + '-' + k + '\r\nFrom: <sip:t@' + from + '>;tag=' + i + '\r\nTo: <sip:tcpprobe-' + i + '@' + vip + '>\r\nCall-ID: tcpprobe-' + i + '-' + k + '\r\nCSeq: ' + (k + 1) + ' OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n';
const conns = [];
function ask(c, i, k) {
  return new Promise((resolve) => {
    let done = false;
    const fin = (v) => { if (!done) { done = true; clearTimeout(t); c.sock.removeListener('data', onData); resolve(v); } };
    const onData = (d) => { c.buf += d; if (c.buf.includes('SIP/2.0 ')) { c.buf = ''; fin('answered'); } };
    const t = setTimeout(() => fin('silent'), 5000);
    if (c.err) return fin('reset');
    c.sock.on('data', onData);
    c.onErr = () => fin('reset');
    c.sock.write(opts(i, k));
  });
}
(async () => {
  for (let i = 0; i < n; i++) {
    const sock = net.connect({ host: vip, port: 5060 });
    const c = { sock, buf: '', err: undefined, onErr: undefined };
    sock.setEncoding('utf8');
    sock.on('error', (e) => { c.err = e.code; c.onErr && c.onErr(); });
    sock.on('close', () => { c.err = c.err || 'closed'; c.onErr && c.onErr(); });
    await new Promise((r, j) => { sock.once('connect', r); sock.once('error', j); });
    conns.push(c);
  }
  const before = await Promise.all(conns.map((c, i) => ask(c, i, 0)));
  process.stdout.write('ready ' + JSON.stringify(before) + '\n');
  await new Promise((r) => process.stdin.once('data', r));
  const after = await Promise.all(conns.map((c, i) => ask(c, i, 1)));
  process.stdout.write(JSON.stringify({ before, after, errors: conns.map((c) => c.err || null) }) + '\n');
  for (const c of conns) c.sock.destroy();
  process.exit(0);
})().catch((e) => { process.stdout.write(JSON.stringify({ error: String(e) }) + '\n'); process.exit(1); });
`;

async function tcpUnderRouteChange(pop: NetnsPop, n: number): Promise<TcpRouteChange> {
  const removed = pop.hosts.at(-1)! as NetnsPopHost;
  const agent = pop.lab.exec(
    pop.client,
    process.execPath,
    ['-e', TCP_AGENT, pop.vip, String(n), NETNS_POP_CLIENT],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  try {
    const deadline = Date.now() + 60_000;
    while (!agent.output().includes('ready ')) {
      if (Date.now() > deadline || agent.child.exitCode !== null)
        throw new Error(`tcp agent not ready: ${agent.output().slice(-500)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const before = JSON.parse(agent.output().split('ready ')[1]!.split('\n')[0]!) as string[];
    await pop.routeVia(pop.hosts.slice(0, -1));
    agent.child.stdin?.write('go\n');
    await Promise.race([
      agent.exited,
      new Promise((_, j) => setTimeout(() => j(new Error('tcp agent did not finish')), 60_000)),
    ]);
    const last = agent.output().trim().split('\n').at(-1)!;
    const r = JSON.parse(last) as { after: string[]; error?: string };
    if (r.error) throw new Error(`tcp agent: ${r.error}`);
    const count = (v: string) => r.after.filter((x) => x === v).length;
    return {
      connections: n,
      before: before.filter((x) => x === 'answered').length,
      answered: count('answered'),
      reset: count('reset'),
      silent: count('silent'),
      removedHost: removed.id,
    };
  } finally {
    await agent.stop(2000).catch(() => undefined);
    await pop.routeVia(pop.hosts);
  }
}

export interface PopCallsSummary {
  scenario: CallScenario;
  rate: number;
  medianCallsPerS: number;
  failed: number;
  forwarded: number;
  violations: number;
}

export function summarizePopCalls(results: PopCallsResult[]): PopCallsSummary[] {
  const out: PopCallsSummary[] = [];
  for (const scenario of CALL_SCENARIOS)
    for (const rate of [...new Set(results.map((r) => r.rate))].sort((a, b) => a - b)) {
      const rs = results.filter((r) => r.scenario === scenario && r.rate === rate);
      if (!rs.length) continue;
      out.push({
        scenario,
        rate,
        medianCallsPerS: median(rs.map((r) => r.callsPerS)),
        failed: rs.reduce((a, r) => a + r.failed, 0),
        forwarded: rs.reduce((a, r) => a + r.forwarded, 0),
        violations: rs.reduce((a, r) => a + r.violations, 0),
      });
    }
  return out;
}

/** The highest offered rate whose runs of `scenario` all had 0 failed calls (0: none). */
export function errorFreeRate(summary: PopCallsSummary[], scenario: CallScenario): number {
  return Math.max(0, ...summary.filter((s) => s.scenario === scenario && s.failed === 0).map((s) => s.rate));
}

/** The aborted calls' causes summed over all runs, one list line each (or a line saying there were none). */
function causesLines(results: PopCallsResult[]): string[] {
  const all: Record<string, number> = {};
  for (const r of results) for (const [k, n] of Object.entries(r.causes)) all[k] = (all[k] ?? 0) + n;
  const entries = Object.entries(all).sort((a, b) => b[1] - a[1]);
  return entries.length ? entries.map(([k, n]) => `- ${n} × ${k}`) : ['- none'];
}

export function renderPopCalls(
  results: PopCallsResult[],
  tcp: TcpRouteChange,
  o: PopCallsOptions,
  command: string,
): string {
  const summary = summarizePopCalls(results);
  const load = os.loadavg();
  const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
  return [
    '# POP call rate (SIPp through the namespace POP)',
    '',
    `Command: \`${command}\``,
    '',
    `Date: ${new Date().toISOString()}  `,
    `Load average at the end (1/5/15 min): ${load.map((x) => x.toFixed(2)).join(' / ')} (shared 2-core machine)`,
    '',
    `${o.runs} run(s) per rate and scenario, ${o.seconds} s per run (calls = rate × seconds), 3 hosts in vxlan mode ` +
      'behind an ECMP router namespace, SIPp `-t un` (a socket per call) in the client namespace, 4 calls per ' +
      'conference, 1 s calls. `nexthop-removed`: one nexthop fewer halfway through each run. Gossip timers: ' +
      `\`${o.gossipProfile}\` profile${o.gossipProfile === 'lan' ? " (production's: 1 s rounds, 500 ms probe timeout)" : ' (200 ms rounds, 100 ms probe timeout: under load a stalled host is declared dead)'}.`,
    '',
    '## Error-free call rate',
    '',
    `- stable routes: **${errorFreeRate(summary, 'stable')} calls/s** (highest offered rate with 0 failed calls)`,
    `- one nexthop removed mid-run: **${errorFreeRate(summary, 'nexthop-removed')} calls/s**`,
    '',
    '| scenario | offered calls/s | median achieved calls/s | failed (all runs) | forwarded | violations |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...summary.map(
      (s) =>
        `| ${s.scenario} | ${s.rate} | ${f1(s.medianCallsPerS)} | ${s.failed} | ${s.forwarded} | ${s.violations} |`,
    ),
    '',
    '## Why calls failed',
    '',
    'Columns of the runs table: `unexp` SIPp calls aborted on an unexpected message, `retx-max` calls that ran out of',
    'UDP retransmissions, `extra dlg` dialogs the workers opened minus calls SIPp created (> 0: a call answered on two',
    "hosts), `stale` owner tokens naming a host a non-owner's table had as not alive (`token_stale`), `followed`",
    "retransmissions/CANCELs of forwarded calls sent where their INVITE went. SIPp's aborted calls by what they got",
    "(from the first 4 kB of SIPp's errors log of each run):",
    '',
    ...causesLines(results),
    '',
    '## TCP when the route changes under established connections',
    '',
    `${tcp.connections} connections to the VIP, one OPTIONS answered on each (${tcp.before} answered), then ` +
      `\`ip route replace\` without ${tcp.removedHost}'s nexthop, then one more OPTIONS on each:`,
    '',
    '| answered | reset | silent (no answer in 5 s) |',
    '| ---: | ---: | ---: |',
    `| ${tcp.answered} | ${tcp.reset} | ${tcp.silent} |`,
    '',
    '## Runs',
    '',
    '| run | scenario | offered | calls | ok | failed | unexp | retx-max | retrans | extra dlg | stale | followed | s | calls/s | forwarded | violations | load |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...results.map(
      (r) =>
        `| ${r.run} | ${r.scenario} | ${r.rate} | ${r.calls} | ${r.successful} | ${r.failed} | ${r.unexpected} | ${r.maxUdpRetrans} | ${r.retransmissions} | ${r.extraDialogs} | ${r.tokenStale} | ${r.followed} | ${(r.elapsedMs / 1000).toFixed(1)} | ${f1(r.callsPerS)} | ${r.forwarded} | ${r.violations} | ${r.loadavg.toFixed(2)} |`,
    ),
    '',
  ].join('\n');
}

export async function runPopCalls(
  o: PopCallsOptions,
  command: string,
): Promise<{ results: PopCallsResult[]; tcp: TcpRouteChange }> {
  const pop = await NetnsPop.start({
    prefix: 'popns-calls',
    hosts: 3,
    workers: 2,
    gossip: 'multicast',
    gossipProfile: o.gossipProfile,
  });
  try {
    const results: PopCallsResult[] = [];
    for (let run = 1; run <= o.runs; run++)
      for (const rate of o.rates)
        for (let k = 0; k < CALL_SCENARIOS.length; k++) {
          const scenario = CALL_SCENARIOS[(k + run - 1) % CALL_SCENARIOS.length]!;
          process.stderr.write(`[pop-calls] run ${run}/${o.runs}: ${scenario} at ${rate} calls/s\n`);
          results.push(await oneRun(pop, scenario, rate, run, o));
        }
    const tcp = await tcpUnderRouteChange(pop, o.tcpConns);
    const md = renderPopCalls(results, tcp, o, command);
    fs.mkdirSync(o.out, { recursive: true });
    fs.writeFileSync(
      path.join(o.out, 'pop-router-calls.json'),
      `${JSON.stringify(
        {
          benchmark: 'pop-calls',
          command,
          date: new Date().toISOString(),
          loadavg: os.loadavg(),
          options: o,
          summary: summarizePopCalls(results),
          tcp,
          results,
        },
        null,
        2,
      )}\n`,
    );
    fs.writeFileSync(path.join(o.out, 'pop-router-calls.md'), md);
    process.stdout.write(md);
    return { results, tcp };
  } finally {
    await pop.dispose();
  }
}

export const popCalls: Subcommand = {
  summary: spec.summary,
  async run(argv) {
    const o = parsePopCallsOptions(argv);
    if ('help' in o) {
      process.stdout.write(o.help);
      return 0;
    }
    const command = `node tools/bench/dist/main.js pop-calls ${argv.join(' ')}`.trim();
    await runPopCalls(o, command);
    return 0;
  },
};
