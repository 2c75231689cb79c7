/**
 * Thousands of mutated SIP datagrams and half-written TCP messages at a live dispatcher: it stays up, no worker
 * crashes, bad input is counted and answered 400/513 where SIP allows, and a valid call afterwards succeeds.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRng, type Rng } from '@switchyard/affinity';
import { waitFor, runSipp } from '@switchyard/testing';
import { startDispatcher, type RunningDispatcher } from './harness.js';
import { invite } from './sip-fixtures.js';

const DATAGRAMS = 3000;

function mutate(base: Buffer, rng: Rng): Buffer {
  const pick = (n: number) => Math.floor(rng.next() * n);
  const b = Buffer.from(base);
  switch (pick(9)) {
    case 0: // flip bytes
      for (let i = 0, n = 1 + pick(8); i < n; i++) b[pick(b.length)] = pick(256);
      return b;
    case 1: // truncate
      return b.subarray(0, pick(b.length));
    case 2: // lie about the body length
      return Buffer.from(
        b
          .toString('latin1')
          .replace(/Content-Length: \d+/, `Content-Length: ${[-1, 999999, 'x', ''][pick(4)]}`),
        'latin1',
      );
    case 3: // drop a mandatory header
      return Buffer.from(b.toString('latin1').replace(/\r\n(Call-ID|CSeq|Via|From|To):[^\r]*/, ''), 'latin1');
    case 4: // random garbage
      return Buffer.from(Array.from({ length: pick(600) }, () => pick(256)));
    case 5: // oversized (over the 16 KiB limit)
      return Buffer.concat([b, Buffer.alloc(17_000 + pick(30_000), 0x41)]);
    case 6: // NULs and bare LFs in the header block
      return Buffer.from(b.toString('latin1').replace(/\r\n/g, rng.next() < 0.5 ? '\n' : '\r\n\0'), 'latin1');
    case 7: // start line mangled
      return Buffer.from(
        b.toString('latin1').replace('SIP/2.0', ['SIP/3.0', 'SIP/2.0 extra', '', 'sip/2.0'][pick(4)]!),
        'latin1',
      );
    default: // a header with a huge folded value
      return Buffer.from(
        b.toString('latin1').replace('Max-Forwards: 70', `Max-Forwards: 70\r\n ${'x'.repeat(pick(5000))}`),
        'latin1',
      );
  }
}

describe('fuzzing the dispatcher', () => {
  let d: RunningDispatcher;
  beforeAll(async () => {
    d = await startDispatcher({ minWorkers: 2, maxWorkers: 2, args: ['--tcp-first-message-ms', '500'] });
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('stays up through mutated datagrams and half-written TCP messages, then serves a valid call', async () => {
    const pidsBefore = (await d.workers()).map((w) => w.pid).sort();
    const rng = seededRng(20261122);
    const bases = [
      invite(),
      invite({ method: 'BYE', toTag: 'x', body: '' }),
      invite({ method: 'OPTIONS', body: '' }),
      Buffer.from(
        'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-1\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nContent-Length: 0\r\n\r\n',
      ),
    ];
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const statuses = new Map<number, number>();
    sock.on('message', (m) => {
      const st = /^SIP\/2\.0 (\d{3})/.exec(m.toString('latin1', 0, 20))?.[1];
      if (st) statuses.set(Number(st), (statuses.get(Number(st)) ?? 0) + 1);
    });
    for (let i = 0; i < DATAGRAMS; i++) {
      const m = mutate(bases[i % bases.length]!, rng);
      if (m.length <= 65_000) sock.send(m, d.sipPort, '127.0.0.1');
      // bounded pace: let the dispatcher read before the socket buffer fills
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 5));
    }
    // TCP: peers that never finish, that send garbage past the limit, and that lie about Content-Length
    const conns: net.Socket[] = [];
    const open = (data: Buffer) =>
      new Promise<void>((resolve) => {
        const c = net.connect(d.sipPort, '127.0.0.1', () => {
          c.write(data);
          resolve();
        });
        c.on('error', () => resolve());
        conns.push(c);
      });
    for (let i = 0; i < 20; i++) await open(invite().subarray(0, 40 + i * 10));
    for (let i = 0; i < 5; i++) await open(Buffer.alloc(20_000, 0x41));
    for (let i = 0; i < 5; i++)
      await open(
        Buffer.from(
          invite()
            .toString('latin1')
            .replace(/Content-Length: \d+/, 'Content-Length: abc'),
          'latin1',
        ),
      );
    await waitFor('every half-written TCP peer closed by the primary', () =>
      conns.every((c) => c.destroyed || c.readableEnded) ? true : (conns.forEach((c) => c.resume()), false),
    );
    expect(await d.metric('sipdisp_tcp_rejected_total', { reason: 'timeout' })).toBe(20);
    expect(await d.metric('sipdisp_tcp_rejected_total', { reason: 'too-large' })).toBe(5);
    expect(await d.metric('sipdisp_tcp_rejected_total', { reason: 'bad-content-length' })).toBe(5);
    sock.close();

    const health = await fetch(`${d.control}/healthz`);
    expect(health.status).toBe(200);
    expect(await d.metric('sipdisp_worker_restarts_total')).toBe(0);
    expect((await d.workers()).map((w) => w.pid).sort()).toEqual(pidsBefore);
    const malformed = await d.metric('sipdisp_malformed_total');
    expect(malformed).toBeGreaterThan(DATAGRAMS / 4);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(50);
    expect(statuses.get(513) ?? 0).toBeGreaterThan(10);

    const udp = await runSipp({
      target: d.target,
      service: 'conf-after-fuzz',
      calls: 5,
      rate: 10,
      timeoutS: 20,
    });
    expect(udp.failed, udp.diagnostics).toBe(0);
    expect(udp.successful).toBe(5);
    const tcp = await runSipp({
      target: d.target,
      service: 'conf-after-fuzz',
      calls: 5,
      rate: 10,
      transport: 'tn',
      timeoutS: 20,
    });
    expect(tcp.successful, tcp.diagnostics).toBe(5);
  }, 90_000);
});
