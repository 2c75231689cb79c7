/** TCP hand-offs per second and per-datagram round-trip latency, measured with plain Node sockets. */
import dgram from 'node:dgram';
import net from 'node:net';

let seq = 0;
function options(callId: string, transport: 'UDP' | 'TCP', port: number): Buffer {
  return Buffer.from(
    `OPTIONS sip:conf-bench@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/${transport} 127.0.0.1:${port};branch=z9hG4bK-${callId}\r\n` +
      `From: <sip:bench@127.0.0.1>;tag=b${callId}\r\nTo: <sip:conf-bench@127.0.0.1>\r\nCall-ID: ${callId}\r\nCSeq: 1 OPTIONS\r\n` +
      `Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
  );
}

/**
 * `concurrency` loops, each: connect, send one OPTIONS, read the whole response, close. Returns completed
 * connections per second (each one a hand-off from the accepting process to a worker) and errors.
 */
export async function tcpHandoffs(
  port: number,
  concurrency: number,
  durationMs: number,
): Promise<{ perSecond: number; done: number; errors: number }> {
  const end = Date.now() + durationMs;
  let done = 0;
  let errors = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const id = `t${process.pid}-${seq++}`;
      const sock = net.connect(port, '127.0.0.1');
      let got = '';
      const timer = setTimeout(() => {
        errors++;
        sock.destroy();
        resolve();
      }, 5000);
      sock.setNoDelay(true);
      sock.on('connect', () => sock.write(options(id, 'TCP', sock.localPort ?? 0)));
      sock.on('data', (b) => {
        got += b.toString('latin1');
        if (got.includes('\r\n\r\n')) {
          clearTimeout(timer);
          if (got.startsWith('SIP/2.0 200')) done++;
          else errors++;
          sock.destroy();
          resolve();
        }
      });
      sock.on('error', () => {
        clearTimeout(timer);
        errors++;
        resolve();
      });
    });
  const started = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) await one();
    }),
  );
  return { perSecond: done / ((Date.now() - started) / 1000), done, errors };
}

/** One OPTIONS in flight at a time; round-trip times in microseconds. */
export async function udpRoundTrips(
  port: number,
  count: number,
  warmup: number,
  /** Run first from the same socket (e.g. a call that makes the worker hold `conf-bench`). */
  prepare?: (sock: dgram.Socket) => Promise<void>,
): Promise<{ p50: number; p90: number; p99: number; lost: number }> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const local = sock.address().port;
  await prepare?.(sock);
  const samples: number[] = [];
  let lost = 0;
  for (let i = 0; i < count + warmup; i++) {
    const id = `u${process.pid}-${seq++}`;
    const t0 = process.hrtime.bigint();
    const ok = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        sock.removeListener('message', onMsg);
        resolve(false);
      }, 1000);
      const onMsg = (m: Buffer) => {
        if (!m.includes(id)) return;
        clearTimeout(timer);
        sock.removeListener('message', onMsg);
        resolve(true);
      };
      sock.on('message', onMsg);
      sock.send(options(id, 'UDP', local), port, '127.0.0.1');
    });
    const us = Number(process.hrtime.bigint() - t0) / 1000;
    if (!ok) lost++;
    else if (i >= warmup) samples.push(us);
  }
  sock.close();
  samples.sort((a, b) => a - b);
  const q = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] ?? NaN;
  return { p50: q(0.5), p90: q(0.9), p99: q(0.99), lost };
}
