#!/usr/bin/env node
/**
 * The two programs of the `pop-forward` benchmark that run inside a network namespace (started there with
 * `ip netns exec <ns> node pop-forward-agent.js <role> …`):
 * - `client <target ip:port> <conference> <loops> <requests> <timeMs> [claim ip:port]`: optionally opens a call
 *   (INVITE, final response, ACK) to the claim address so that host owns the conference, then runs `loops` loops,
 *   each with one SIP OPTIONS to `sip:<conference>@<target>` in flight at a time, until `requests` per loop or
 *   `timeMs` in all; prints one JSON line (round trips, lost, elapsed, p50/p99 µs).
 * - `latency <direct ip:port> <forwarded ip:port> <conference> <samples> <timeMs> <warmup> [stamp]`: the unloaded phase: one
 *   socket, one OPTIONS in flight, the target alternating request by request between the owner directly and the
 *   forwarded path (VIP or relay), until `samples` answered per path or `timeMs`; the first `warmup` pairs are not
 *   recorded (a kernel forward delegates a client after its first datagrams). `stamp` (measurement, `--hop-stamps`):
 *   each OPTIONS carries a 16-hex-digit body, CLOCK_MONOTONIC ns at its send, for the hosts' hop-stamp program
 *   (tools/bench/bpf/hop-stamp.bpf.c). Prints one JSON line
 *   ({@link LatencyResult}).
 * - `relay <listen ip:port> <upstream ip:port>`: the baseline, a plain Node UDP relay: one upstream socket per
 *   client address, replies relayed back to the client.
 */
import dgram from 'node:dgram';
import { pathToFileURL } from 'node:url';

/**
 * One OPTIONS to the conference at `target`, its head only: with `bodyBytes` > 0 it announces a text body of that
 * length, which the caller appends (the hop stamp).
 */
function optionsRequest(
  conference: string,
  target: readonly [string, number],
  port: number,
  branch: string,
  tag: string,
  callId: string,
  cseq: number,
  bodyBytes: number,
): string {
  const uri = `sip:${conference}@${target.join(':')}`;
  return (
    `OPTIONS ${uri} SIP/2.0\r\nVia: SIP/2.0/UDP 0.0.0.0:${port};branch=${branch};rport\r\n` +
    `From: <sip:bench@bench.invalid>;tag=${tag}\r\nTo: <${uri}>\r\n` +
    `Call-ID: ${callId}\r\nCSeq: ${cseq} OPTIONS\r\nMax-Forwards: 70\r\n` +
    (bodyBytes > 0
      ? `Content-Type: text/plain\r\nContent-Length: ${bodyBytes}\r\n\r\n`
      : 'Content-Length: 0\r\n\r\n')
  );
}

/** One request not answered within this is counted lost and the loop goes on. */
const REQUEST_TIMEOUT_MS = 500;
/** A relay keeps at most this many clients (bounded memory). */
const MAX_RELAY_CLIENTS = 1024;

export interface ClientResult {
  roundTrips: number;
  lost: number;
  elapsedMs: number;
  /** the 10th percentile: the path's own cost with the least scheduling delay in it (a loaded machine) */
  p10Us: number;
  p50Us: number;
  p99Us: number;
}

/** One path of the interleaved latency phase. */
export interface PathLatency {
  samples: number;
  lost: number;
  p10Us: number;
  p50Us: number;
  p99Us: number;
}

/** The interleaved latency phase: the two paths, measured request by request in turn from one socket. */
export interface LatencyResult {
  direct: PathLatency;
  forwarded: PathLatency;
  elapsedMs: number;
}

const split = (hp: string): [string, number] => {
  const i = hp.lastIndexOf(':');
  return [hp.slice(0, i), Number(hp.slice(i + 1))];
};

function percentile(sorted: Float64Array, p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function bound(s: dgram.Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, () => resolve(s.address().port));
  });
}

/**
 * One OPTIONS in flight on a socket: `ask` sends one and resolves with its round trip in µs once an answer naming
 * its branch arrives, or NaN after REQUEST_TIMEOUT_MS.
 */
function oneInFlight(
  s: dgram.Socket,
): (branch: string, msg: () => string, target: readonly [string, number]) => Promise<number> {
  let pending: { branch: string; t0: number; done: (us: number) => void } | undefined;
  s.on('message', (b) => {
    if (pending && b.includes(pending.branch, 0, 'latin1'))
      pending.done((performance.now() - pending.t0) * 1000);
  });
  return async (branch, msg, target) => {
    const us = await new Promise<number>((resolve) => {
      const timer = setTimeout(() => resolve(NaN), REQUEST_TIMEOUT_MS);
      pending = {
        branch,
        t0: performance.now(),
        done: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
      };
      s.send(msg(), target[1], target[0]);
    });
    pending = undefined;
    return us;
  };
}

/** Sends `make(n)` until a reply containing `match` arrives (retransmitting), resolves with the reply. */
async function transact(
  s: dgram.Socket,
  target: [string, number],
  make: () => string,
  match: (reply: string) => boolean,
  timeoutMs: number,
): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const send = () => s.send(make(), target[1], target[0]);
    const retx = setInterval(send, 500);
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no reply from ${target.join(':')} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (b: Buffer) => {
      const text = b.toString('latin1');
      if (match(text)) {
        cleanup();
        resolve(text);
      }
    };
    const cleanup = () => {
      clearInterval(retx);
      clearTimeout(timer);
      s.off('message', onMessage);
    };
    s.on('message', onMessage);
    send();
  });
}

/** INVITE to `claim`, waits for its final response and ACKs it: the host there claims the conference. */
async function openCall(claim: [string, number], conference: string): Promise<void> {
  const s = dgram.createSocket('udp4');
  const port = await bound(s);
  const ip = '0.0.0.0';
  const branch = `z9hG4bK-claim-${process.pid}`;
  const head = (method: string, br: string, cseq: string, to: string) =>
    `${method} sip:${conference}@${claim.join(':')} SIP/2.0\r\nVia: SIP/2.0/UDP ${ip}:${port};branch=${br};rport\r\n` +
    `From: <sip:bench@${ip}>;tag=claim${process.pid}\r\nTo: ${to}\r\nCall-ID: claim-${process.pid}-${conference}\r\n` +
    `CSeq: ${cseq}\r\nContact: <sip:bench@${ip}:${port}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
  try {
    const reply = await transact(
      s,
      claim,
      () => head('INVITE', branch, '1 INVITE', `<sip:${conference}@${claim.join(':')}>`),
      (t) => /^SIP\/2\.0 [2-6]\d\d /.test(t) && t.includes(branch),
      10_000,
    );
    const to = /^to:\s*(.*)$/im.exec(reply)?.[1]?.trim() ?? `<sip:${conference}@${claim.join(':')}>`;
    s.send(head('ACK', `${branch}-ack`, '1 ACK', to), claim[1], claim[0]);
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    s.close();
  }
}

/** `loops` closed loops of OPTIONS, one in flight each, bounded by `requests` per loop and `timeMs` in all. */
export async function runClient(
  target: [string, number],
  conference: string,
  loops: number,
  requests: number,
  timeMs: number,
): Promise<ClientResult> {
  const rtts: number[] = [];
  let lost = 0;
  const started = performance.now();
  const deadline = started + timeMs;
  const loop = async (l: number) => {
    const s = dgram.createSocket('udp4');
    const port = await bound(s);
    const ask = oneInFlight(s);
    try {
      for (let n = 0; n < requests && performance.now() < deadline; n++) {
        const branch = `z9hG4bK-${l}-${n}-f`;
        const msg = optionsRequest(
          conference,
          target,
          port,
          branch,
          `l${l}`,
          `fwd-${process.pid}-${l}`,
          n + 1,
          0,
        );
        const us = await ask(branch, () => msg, target);
        if (Number.isNaN(us)) lost++;
        else rtts.push(us);
      }
    } finally {
      s.close();
    }
  };
  await Promise.all(Array.from({ length: loops }, (_, l) => loop(l)));
  const elapsedMs = performance.now() - started;
  const sorted = Float64Array.from(rtts).sort();
  return {
    roundTrips: rtts.length,
    lost,
    elapsedMs,
    p10Us: percentile(sorted, 10),
    p50Us: percentile(sorted, 50),
    p99Us: percentile(sorted, 99),
  };
}

function pathLatency(rtts: number[], lost: number): PathLatency {
  const sorted = Float64Array.from(rtts).sort();
  return {
    samples: rtts.length,
    lost,
    p10Us: percentile(sorted, 10),
    p50Us: percentile(sorted, 50),
    p99Us: percentile(sorted, 99),
  };
}

/**
 * One socket, one OPTIONS in flight: request i goes to `direct` when i is even, to `forwarded` when odd, so both
 * paths see the same moment's machine (load, CPU frequency, caches) to within one round trip. Bounded by `samples`
 * answered per path (or `4 × samples` requests per path) and by `timeMs`; the first `warmup` pairs are discarded.
 */
export async function runLatency(
  direct: [string, number],
  forwarded: [string, number],
  conference: string,
  samples: number,
  timeMs: number,
  warmup: number,
  stamp = false,
): Promise<LatencyResult> {
  const rtts: [number[], number[]] = [[], []];
  const lost = [0, 0];
  const targets = [direct, forwarded] as const;
  const s = dgram.createSocket('udp4');
  const port = await bound(s);
  const ask = oneInFlight(s);
  const started = performance.now();
  const deadline = started + timeMs;
  try {
    for (
      let n = 0;
      n < 2 * (warmup + 4 * samples) &&
      performance.now() < deadline &&
      (rtts[0].length < samples || rtts[1].length < samples);
      n++
    ) {
      const which = n & 1;
      const target = targets[which];
      const branch = `z9hG4bK-lat-${n}-${which}`;
      const msg = optionsRequest(
        conference,
        target,
        port,
        branch,
        'lat',
        `lat-${process.pid}`,
        n + 1,
        stamp ? 16 : 0,
      );
      // process.hrtime is CLOCK_MONOTONIC (libuv), the clock of the program's bpf_ktime_get_ns; read at the send
      const us = await ask(
        branch,
        () => (stamp ? msg + process.hrtime.bigint().toString(16).padStart(16, '0') : msg),
        target,
      );
      if (n < 2 * warmup) continue;
      if (Number.isNaN(us)) lost[which]!++;
      else rtts[which].push(us);
    }
  } finally {
    s.close();
  }
  return {
    direct: pathLatency(rtts[0], lost[0]!),
    forwarded: pathLatency(rtts[1], lost[1]!),
    elapsedMs: performance.now() - started,
  };
}

/** The baseline relay; resolves once listening, returns a stop function. */
export async function startRelay(listen: [string, number], upstream: [string, number]): Promise<() => void> {
  const front = dgram.createSocket('udp4');
  const backs = new Map<string, dgram.Socket>();
  front.on('message', (msg, rinfo) => {
    const key = `${rinfo.address}:${rinfo.port}`;
    let back = backs.get(key);
    if (!back) {
      if (backs.size >= MAX_RELAY_CLIENTS) return;
      back = dgram.createSocket('udp4');
      back.on('message', (reply) => front.send(reply, rinfo.port, rinfo.address));
      back.bind(0);
      backs.set(key, back);
    }
    back.send(msg, upstream[1], upstream[0]);
  });
  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.bind(listen[1], listen[0], () => resolve());
  });
  return () => {
    for (const b of backs.values()) b.close();
    front.close();
  };
}

async function agentMain(argv: string[]): Promise<void> {
  const [role, ...a] = argv;
  if (role === 'client') {
    const [target, conference, loops, requests, timeMs, claim] = a;
    if (!target || !conference)
      throw new Error('usage: client <ip:port> <conference> <loops> <requests> <ms>');
    if (claim) await openCall(split(claim), conference);
    const r = await runClient(split(target), conference, Number(loops), Number(requests), Number(timeMs));
    process.stdout.write(`${JSON.stringify(r)}\n`);
  } else if (role === 'latency') {
    const [direct, forwarded, conference, samples, timeMs, warmup, stamp] = a;
    if (!direct || !forwarded || !conference)
      throw new Error(
        'usage: latency <direct ip:port> <forwarded ip:port> <conference> <samples> <ms> <warmup>',
      );
    const r = await runLatency(
      split(direct),
      split(forwarded),
      conference,
      Number(samples),
      Number(timeMs),
      Number(warmup),
      stamp === 'stamp',
    );
    process.stdout.write(`${JSON.stringify(r)}\n`);
  } else if (role === 'relay') {
    const [listen, upstream] = a;
    if (!listen || !upstream) throw new Error('usage: relay <listen ip:port> <upstream ip:port>');
    const stop = await startRelay(split(listen), split(upstream));
    process.stdout.write('relay ready\n');
    process.once('SIGTERM', () => {
      stop();
    });
  } else throw new Error(`unknown role ${String(role)}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  agentMain(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
