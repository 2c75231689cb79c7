/**
 * The dispatcher benchmark's `steering` section (issue 9 §8, branch dsteer): latency added per datagram with kernel
 * steering off and on, side by side with one worker listening directly, with the CPU time each set-up spends per
 * round trip and the load average of each run (the machine is shared).
 */
import dgram from 'node:dgram';
import os from 'node:os';
import { freePort, freeTcpUdpPort, sumMetric } from '@switchyard/launch';
import { cpuSeconds, median } from './dispatcher-extra.js';
import { udpRoundTrips } from './dispatcher-load.js';
import { startDispatcher, startStandalone, type Proc } from './dispatcher-procs.js';

const SETUPS = ['direct', 'steering off', 'steering on'] as const;
type Setup = (typeof SETUPS)[number];

export interface SteeringRun {
  /** 1-minute load average when the run started. */
  load1: number;
  bySetup: Record<Setup, { p50: number; p99: number; cpuUsPerRoundTrip: number }>;
}

export interface SteeringRuns {
  runs: number;
  count: number;
  perRun: SteeringRun[];
  /** Medians over the runs of (set-up − direct). */
  added: Record<Exclude<Setup, 'direct'>, { p50: number; p99: number }>;
  lost: number;
  /** Delegations the steering dispatcher made (`sipdisp_steering_events_total{event="delegated"}`): > 0 or nothing was steered. */
  delegated: number;
  /** Datagrams its worker bounced back to the primary. */
  bounced: number;
}

let calls = 0;

/**
 * One call in `conf-bench` (INVITE → 200 → ACK) from the round-trip socket: the worker then holds the conference,
 * so the OPTIONS that follow are ones a steered worker may answer itself (and the peer is delegated after a few).
 */
async function callFrom(sock: dgram.Socket, port: number): Promise<void> {
  const local = sock.address().port;
  const callId = `steer-${process.pid}-${calls++}`;
  const sdp =
    'v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n';
  const head = (method: string, branch: string, to: string) =>
    `${method} sip:conf-bench@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK-${branch}\r\n` +
    `From: <sip:bench@127.0.0.1>;tag=f${callId}\r\nTo: <sip:conf-bench@127.0.0.1>${to}\r\nCall-ID: ${callId}\r\n` +
    `CSeq: 1 ${method}\r\nContact: <sip:bench@127.0.0.1:${local}>\r\nMax-Forwards: 70\r\n`;
  const ok = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no 200 to the INVITE of ${callId}`)), 10_000);
    const onMsg = (m: Buffer) => {
      const t = m.toString('latin1');
      if (!t.startsWith('SIP/2.0 200') || !t.includes(callId)) return;
      clearTimeout(timer);
      sock.removeListener('message', onMsg);
      resolve(t);
    };
    sock.on('message', onMsg);
    sock.send(
      `${head('INVITE', `i${callId}`, '')}Content-Type: application/sdp\r\nContent-Length: ${sdp.length}\r\n\r\n${sdp}`,
      port,
      '127.0.0.1',
    );
  });
  const toTag = /^To:.*;tag=([^;\s]+)/im.exec(ok)?.[1] ?? '';
  sock.send(`${head('ACK', `a${callId}`, `;tag=${toTag}`)}Content-Length: 0\r\n\r\n`, port, '127.0.0.1');
}

function cpuOf(p: Proc): number {
  const c = cpuSeconds(p.pid);
  return c.self + c.children;
}

/** The three set-ups run throughout; each run measures all three, the order rotating. */
export async function steeringLatency(runs: number, count: number): Promise<SteeringRuns> {
  const ports = { direct: await freeTcpUdpPort(), off: await freeTcpUdpPort(), on: await freeTcpUdpPort() };
  const procs: Proc[] = [];
  try {
    procs.push(await startStandalone(ports.direct));
    // steering is on by default (since branch dsteer2): off only through the environment
    procs.push(
      await startDispatcher(ports.off, await freePort(), 1, [], undefined, { SIPDISP_STEERING: 'false' }),
    );
    const onControl = await freePort();
    procs.push(await startDispatcher(ports.on, onControl, 1));
    const bySetup: Record<Setup, { port: number; proc: Proc }> = {
      direct: { port: ports.direct, proc: procs[0]! },
      'steering off': { port: ports.off, proc: procs[1]! },
      'steering on': { port: ports.on, proc: procs[2]! },
    };
    const perRun: SteeringRun[] = [];
    let lost = 0;
    for (let i = 0; i < runs; i++) {
      const order = SETUPS.map((_, j) => SETUPS[(i + j) % SETUPS.length]!);
      const run = { load1: os.loadavg()[0]!, bySetup: {} } as SteeringRun;
      for (const s of order) {
        const { port, proc } = bySetup[s];
        const cpu0 = cpuOf(proc);
        const r = await udpRoundTrips(port, count, 200, (sock) => callFrom(sock, port));
        const cpuUs = ((cpuOf(proc) - cpu0) * 1e6) / (count + 200);
        lost += r.lost;
        run.bySetup[s] = { p50: r.p50, p99: r.p99, cpuUsPerRoundTrip: cpuUs };
      }
      perRun.push(run);
    }
    const metrics = await (await fetch(`http://127.0.0.1:${onControl}/metrics`)).text();
    const added = (s: Setup, q: 'p50' | 'p99') =>
      median(perRun.map((r) => r.bySetup[s][q] - r.bySetup.direct[q]));
    return {
      runs,
      count,
      perRun,
      added: {
        'steering off': { p50: added('steering off', 'p50'), p99: added('steering off', 'p99') },
        'steering on': { p50: added('steering on', 'p50'), p99: added('steering on', 'p99') },
      },
      lost,
      delegated: sumMetric(metrics, 'sipdisp_steering_events_total', 'event="delegated"'),
      bounced: sumMetric(metrics, 'sipdisp_steering_bounced_datagrams_total'),
    };
  } finally {
    for (const p of [...procs].reverse()) await p.stop();
  }
}

export function steeringSection(s: SteeringRuns | undefined): string[] {
  if (!s) return [];
  const f = (x: number) => x.toFixed(0);
  const f1 = (x: number) => x.toFixed(1);
  return [
    '## Latency added per datagram with kernel steering (OPTIONS → 200, one in flight), microseconds',
    '',
    `${s.runs} runs of ${s.count} round trips (after 200 warm-up ones), each measuring one worker listening directly,`,
    'the dispatcher with one worker and steering off (`SIPDISP_STEERING=false`) and the dispatcher with one worker',
    'at its default settings (steering on since branch dsteer2), the order rotating. Each round-trip socket first',
    'makes one call in `conf-bench` (INVITE → 200 → ACK) so that the worker holds the conference its OPTIONS name (a steered worker answers only what it holds). CPU: user + system time of',
    'the set-up (the dispatcher and its worker together) per round trip, from /proc (10 ms ticks). Goal (issue 9):',
    'added p50 ≤ 25 µs, p99 ≤ 250 µs, as the median over the runs.',
    '',
    '| run | load (1 min) | direct p50 / p99 | off p50 / p99 | on p50 / p99 | CPU µs/rt direct | off | on |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...s.perRun.map((r, i) => {
      const b = r.bySetup;
      return (
        `| ${i + 1} | ${r.load1.toFixed(1)} | ${f(b.direct.p50)} / ${f(b.direct.p99)} | ` +
        `${f(b['steering off'].p50)} / ${f(b['steering off'].p99)} | ${f(b['steering on'].p50)} / ${f(b['steering on'].p99)} | ` +
        `${f1(b.direct.cpuUsPerRoundTrip)} | ${f1(b['steering off'].cpuUsPerRoundTrip)} | ${f1(b['steering on'].cpuUsPerRoundTrip)} |`
      );
    }),
    '',
    '| set-up | added p50 (median) | added p99 (median) |',
    '|---|---:|---:|',
    `| steering off | ${f(s.added['steering off'].p50)} | ${f(s.added['steering off'].p99)} |`,
    `| steering on | ${f(s.added['steering on'].p50)} | ${f(s.added['steering on'].p99)} |`,
    '',
    `Lost datagrams: ${s.lost}. The steering dispatcher delegated ${s.delegated} peers (one per round-trip socket;`,
    `each socket's call happens before its delegation) and its worker bounced ${s.bounced} datagrams back to the`,
    'primary (what reached a connected socket between bind() and connect(), or what the worker does not hold).',
    '',
  ];
}
