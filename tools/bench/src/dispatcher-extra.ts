/**
 * The dispatcher benchmark's sections beyond the call-rate search (issue 9 §8):
 *  - latency added per datagram as the median of several alternating runs (direct, through the dispatcher, …);
 *  - CPU time per call of the primary alone (from /proc), beside Kamailio's (all its processes) for the same calls;
 *  - goodput at twice the capacity with the primary's overload control on.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { freePort, freeTcpUdpPort } from '@switchyard/launch';
import { startDispatcher, startKamailio, startStandalone, type Proc } from './dispatcher-procs.js';
import { sippAtRate } from './dispatcher-sipp.js';
import { udpRoundTrips } from './dispatcher-load.js';

export interface LatencyRuns {
  runs: number;
  perRun: { direct: { p50: number; p99: number }; dispatcher: { p50: number; p99: number } }[];
  /** Medians over the runs of the added p50 and p99 (dispatcher minus direct, each run). */
  addedP50Us: number;
  addedP99Us: number;
  lost: number;
}

export interface CpuPerCall {
  calls: number;
  rate: number;
  successful: number;
  /** CPU (user + system) per successful call, microseconds. */
  primaryUs: number;
  /** Our workers together (for scale; they do the SIP work, as Kamailio's backends do). */
  ourWorkersUs: number;
  /** Kamailio, all its processes, for the same calls in front of two standalone workers. */
  kamailioUs: number | undefined;
}

export interface OverloadRun {
  capacity: number;
  offered: number;
  durationS: number;
  successful: number;
  failed: number;
  /** SIPp's retransmissions (of every call, refused ones included). */
  retransmissions: number;
  /**
   * Seconds over which SIPp placed the calls, measured from its statistics (never less than calls / rate; SIPp's
   * whole run when it could not be measured): the overload's duration.
   */
  offerS: number;
  /** Whether {@link offerS} was read from SIPp's statistics (else it is SIPp's whole run). */
  offerMeasured: boolean;
  /** SIPp's whole run: the offer, then the last calls completing and any timeouts. */
  elapsedS: number;
  /** Successful calls per second of offer (the goal's measure). */
  goodput: number;
  /** goodput / capacity. */
  ratio: number;
  /** Successful calls per second of SIPp's whole run (a lower bound: the tail after the offer is counted). */
  goodputElapsed: number;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

async function withProcs<T>(procs: Proc[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    for (const p of [...procs].reverse()) await p.stop();
  }
}

/** Both set-ups run side by side; each run measures one then the other, alternating which goes first. */
export async function latencyAlternating(runs: number, count: number): Promise<LatencyRuns> {
  const dp = await freeTcpUdpPort();
  const port = await freeTcpUdpPort();
  const controlPort = await freePort();
  const procs: Proc[] = [];
  return withProcs(procs, async () => {
    procs.push(await startStandalone(dp));
    procs.push(await startDispatcher(port, controlPort, 1));
    const perRun: LatencyRuns['perRun'] = [];
    let lost = 0;
    for (let i = 0; i < runs; i++) {
      const order = i % 2 === 0 ? [dp, port] : [port, dp];
      const res = new Map<number, Awaited<ReturnType<typeof udpRoundTrips>>>();
      for (const p of order) res.set(p, await udpRoundTrips(p, count, 200));
      const a = res.get(dp)!;
      const b = res.get(port)!;
      lost += a.lost + b.lost;
      perRun.push({ direct: { p50: a.p50, p99: a.p99 }, dispatcher: { p50: b.p50, p99: b.p99 } });
    }
    return {
      runs,
      perRun,
      addedP50Us: median(perRun.map((r) => r.dispatcher.p50 - r.direct.p50)),
      addedP99Us: median(perRun.map((r) => r.dispatcher.p99 - r.direct.p99)),
      lost,
    };
  });
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function stat(pid: number): { ppid: number; cpuTicks: number } | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // fields after the command: state(3) ppid(4) … utime(14) stime(15)
    return { ppid: Number(f[1]), cpuTicks: Number(f[11]) + Number(f[12]) };
  } catch {
    return undefined;
  }
}

/** CPU seconds of a process, and of its direct children (together). */
export function cpuSeconds(pid: number): { self: number; children: number } {
  const self = stat(pid)?.cpuTicks ?? 0;
  let children = 0;
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = stat(Number(name));
    if (s?.ppid === pid) children += s.cpuTicks;
  }
  return { self: self / CLK_TCK, children: children / CLK_TCK };
}

/** The same SIPp calls through our dispatcher (2 workers) and through Kamailio (2 standalone workers). */
export async function cpuPerCall(
  rate: number,
  durationS: number,
  conferences: number,
  kamailio: boolean,
): Promise<CpuPerCall> {
  const port = await freeTcpUdpPort();
  const d = await startDispatcher(port, await freePort(), 2);
  const ours = await withProcs([d], async () => {
    const before = cpuSeconds(d.pid);
    const r = await sippAtRate(`127.0.0.1:${port}`, rate, durationS, conferences);
    const after = cpuSeconds(d.pid);
    return { r, primary: after.self - before.self, workers: after.children - before.children };
  });
  let kamailioUs: number | undefined;
  if (kamailio) {
    // every process started is stopped, also when a later one fails to start
    const procs: Proc[] = [];
    const p1 = await freeTcpUdpPort();
    const p2 = await freeTcpUdpPort();
    const kp = await freeTcpUdpPort();
    kamailioUs = await withProcs(procs, async () => {
      procs.push(await startStandalone(p1));
      procs.push(await startStandalone(p2));
      const k = await startKamailio(kp, [p1, p2]);
      procs.push(k);
      const before = cpuSeconds(k.pid);
      const r = await sippAtRate(`127.0.0.1:${kp}`, rate, durationS, conferences);
      const after = cpuSeconds(k.pid);
      const used = after.self + after.children - before.self - before.children;
      return (used / Math.max(1, r.successful)) * 1e6;
    });
  }
  const per = (s: number) => (s / Math.max(1, ours.r.successful)) * 1e6;
  return {
    calls: ours.r.calls,
    rate,
    successful: ours.r.successful,
    primaryUs: per(ours.primary),
    ourWorkersUs: per(ours.workers),
    kamailioUs,
  };
}

/**
 * Capacity C: the dispatcher's admission is set to C new calls/s (C/2 per worker, 2 workers); SIPp offers 2·C.
 * Goodput is the successful calls per second of offer (refused calls fail in SIPp: a 503 is unexpected to its uac);
 * per second of SIPp's whole run too, which counts the tail after the offer (a lower bound).
 */
export async function overloadGoodput(
  capacity: number,
  durationS: number,
  conferences: number,
): Promise<OverloadRun> {
  const port = await freeTcpUdpPort();
  const d = await startDispatcher(port, await freePort(), 2, [
    '--new-calls-per-worker-per-s',
    String(Math.max(1, Math.round(capacity / 2))),
  ]);
  return withProcs([d], async () => {
    const offered = capacity * 2;
    const r = await sippAtRate(`127.0.0.1:${port}`, offered, durationS, conferences, { trackOffer: true });
    // the measured offer, never shorter than asked (SIPp cannot place calls faster than its rate)
    const offerS = Math.max(r.calls / offered, r.offerS ?? r.elapsedS);
    const goodput = r.successful / offerS;
    return {
      capacity,
      offered,
      durationS,
      successful: r.successful,
      failed: r.failed,
      retransmissions: r.retransmissions,
      offerS,
      offerMeasured: r.offerS !== undefined,
      elapsedS: r.elapsedS,
      goodput,
      ratio: goodput / capacity,
      goodputElapsed: r.successful / Math.max(0.001, r.elapsedS),
    };
  });
}
