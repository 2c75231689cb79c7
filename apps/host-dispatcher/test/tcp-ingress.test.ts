/**
 * The primary's TCP ingress on a real Dispatcher (forked worker, real sockets): connections are taken from the
 * listening handle, their first message read by the primary, and the raw handle passed to the worker with the bytes
 * already read. What must hold: nothing read before the hand-off is lost (a message split over several writes, two
 * messages in one write, a message right behind the first), and a refused first message is answered by the
 * primary itself on the connection.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '@switchyard/core';
import { waitFor } from '@switchyard/testing';
import type { Dispatcher } from '../src/index.js';
import { invite } from './sip-fixtures.js';
import { oneWorkerDispatcher } from './one-worker-dispatcher.js';

/** A connected client that collects what it reads and notes the close. */
async function client(port: number): Promise<{ sock: net.Socket; text(): string; closed(): boolean }> {
  const sock = net.connect(port, '127.0.0.1');
  sock.setNoDelay(true);
  let text = '';
  let closed = false;
  sock.on('data', (b) => (text += b.toString('latin1')));
  sock.on('close', () => (closed = true));
  sock.on('error', () => undefined);
  await new Promise<void>((r) => sock.once('connect', () => r()));
  return { sock, text: () => text, closed: () => closed };
}

/**
 * Connects and writes each part as its own write. Before writing the next part it waits for the primary to have
 * acted on the parts so far, by its counters, so the order of reads is fixed whatever the timing: `between:
 * 'partial'`, the primary read the parts so far and found the first message still incomplete
 * (`sipdisp_tcp_partial_reads_total` grew by one per part); `'handoff'`, the primary handed the connection off
 * (`sipdisp_tcp_handoffs_total` grew), so what follows can only be read by the worker. Returns the status lines read
 * on the connection.
 */
async function exchange(
  d: Dispatcher,
  port: number,
  parts: Buffer[],
  want: number,
  between: 'partial' | 'handoff' = 'partial',
): Promise<{ statuses: number[]; closed: boolean }> {
  const c = await client(port);
  const metric = between === 'partial' ? 'sipdisp_tcp_partial_reads_total' : 'sipdisp_tcp_handoffs_total';
  const before = await counter(d, metric);
  for (const [i, p] of parts.entries()) {
    c.sock.write(p);
    if (i < parts.length - 1) {
      await waitFor(`${metric} at ${before + i + 1} after part ${i + 1} of ${parts.length}`, async () =>
        (await counter(d, metric)) === before + i + 1 ? true : undefined,
      );
    }
  }
  const statuses = () => [...c.text().matchAll(/^SIP\/2\.0 (\d{3})/gm)].map((m) => Number(m[1]));
  await waitFor(`${want} responses on the connection (got: ${JSON.stringify(c.text().slice(0, 200))})`, () =>
    statuses().length >= want || c.closed() ? true : undefined,
  );
  const result = { statuses: statuses(), closed: c.closed() };
  c.sock.destroy();
  return result;
}

const options = (n: number) =>
  invite({ method: 'OPTIONS', callId: `tcp-opt-${n}@127.0.0.1`, conf: 'conf-tcp', branch: `z9hG4bK-t${n}` });

describe('TCP ingress: raw accept, first message, hand-off', () => {
  let d: Dispatcher;
  let port: number;
  beforeAll(async () => {
    d = oneWorkerDispatcher({ maxMessageBytes: 4096 });
    await d.start();
    port = d.addresses[0]!.port;
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('hands off a first message split over several writes, and the message behind it', async () => {
    const first = options(1);
    const partial0 = await counter(d, 'sipdisp_tcp_partial_reads_total');
    const r = await exchange(
      d,
      port,
      [first.subarray(0, 30), first.subarray(30, 120), first.subarray(120)],
      1,
    );
    expect(r.statuses).toEqual([200]);
    // the first two parts were each read alone and found incomplete; the third completed the message
    expect(await counter(d, 'sipdisp_tcp_partial_reads_total')).toBe(partial0 + 2);
    const two = await exchange(d, port, [Buffer.concat([options(2), options(3)])], 2);
    expect(two.statuses).toEqual([200, 200]);
    // the second message arrives after the hand-off was decided: read by the worker, not lost with the handle
    const after = await exchange(d, port, [options(4), options(5)], 2, 'handoff');
    expect(after.statuses).toEqual([200, 200]);
    expect(await counter(d, 'sipdisp_tcp_handoffs_total')).toBe(3);
  });

  it('hands the bytes read over unchanged non-ASCII (UTF-8 through the JSON channel)', async () => {
    // a display name in UTF-8 (multi-byte characters: bytes 0x80-0xff): the worker echoes From in its 200, so the
    // response shows the exact bytes the worker got from the primary. (Bytes that are not UTF-8 the worker's parser
    // itself replaces; the channel carries them unchanged, test/ipc-serialization.test.ts.)
    const from = Buffer.from('From: "Zoë 会議 ☎" <sip:z@127.0.0.1:5080>;tag=ft1');
    const msg = Buffer.from(
      options(9)
        .toString('latin1')
        .replace('From: sipp <sip:sipp@127.0.0.1:5080>;tag=ft1', from.toString('latin1')),
      'latin1',
    );
    const c = await client(port);
    const got: Buffer[] = [];
    c.sock.on('data', (b: Buffer) => got.push(b));
    c.sock.write(msg);
    await waitFor('the 200 from the worker', () => (c.text().includes('\r\n\r\n') ? true : undefined));
    const res = Buffer.concat(got);
    expect(res.subarray(0, 11).toString('latin1')).toBe('SIP/2.0 200');
    expect(res.includes(from)).toBe(true);
    c.sock.destroy();
  });

  it('leaves the connection to the worker alone: when the worker closes it, the peer sees the close', async () => {
    const c = await client(port);
    c.sock.write(options(8));
    await waitFor('the 200 from the worker', () => (c.text().startsWith('SIP/2.0 200') ? true : undefined));
    // a Content-Length the worker's framer refuses: the worker closes the connection (it owns it now)
    c.sock.write(Buffer.from('OPTIONS sip:conf-tcp@127.0.0.1 SIP/2.0\r\nContent-Length: x\r\n\r\n'));
    await waitFor('the peer sees the connection closed (no copy of it left open in the primary)', () =>
      c.closed() ? true : undefined,
    );
    c.sock.destroy();
  });

  it('answers a first message over the size limit itself (513) and closes the connection', async () => {
    const big = Buffer.from(
      options(6).toString('latin1').replace('Content-Length: 0', 'Content-Length: 9000'),
    );
    const r = await exchange(d, port, [big], 1);
    expect(r.statuses).toEqual([513]);
    await waitFor('the refusal counted as too-large', async () =>
      (await counter(d, 'sipdisp_tcp_rejected_total', 'too-large')) === 1 ? true : undefined,
    );
  });

  it('closes a connection whose peer leaves before its first message is whole', async () => {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.end(options(7).subarray(0, 40));
    await waitFor('the half-written connection counted as closed', async () =>
      (await counter(d, 'sipdisp_tcp_rejected_total', 'closed')) === 1 ? true : undefined,
    );
    sock.destroy();
  });
});

describe('TCP ingress: the first-message deadline (one sweep on the injected clock)', () => {
  it('closes each connection whose first message is not whole by its own deadline, and no other', async () => {
    const clock = new ManualClock();
    const d = oneWorkerDispatcher({ tcpFirstMessageMs: 1000 }, { clock });
    await d.start();
    const port = d.addresses[0]!.port;
    const conns: Awaited<ReturnType<typeof client>>[] = [];
    try {
      /** Opens a connection that writes part of a message and waits until the primary has read it. */
      const partial = async () => {
        const before = await counter(d, 'sipdisp_tcp_partial_reads_total');
        const c = await client(port);
        conns.push(c);
        c.sock.write(options(20 + conns.length).subarray(0, 40));
        await waitFor('the partial first message read by the primary', async () =>
          (await counter(d, 'sipdisp_tcp_partial_reads_total')) === before + 1 ? true : undefined,
        );
        return c;
      };
      const early = [await partial(), await partial()];
      // a connection whose first message is whole in time: handed off, never closed by the deadline
      const whole = await client(port);
      conns.push(whole);
      whole.sock.write(options(30));
      await waitFor('the 200 on the whole connection', () =>
        whole.text().startsWith('SIP/2.0 200') ? true : undefined,
      );
      clock.advance(500);
      const late = [await partial()];
      clock.advance(499);
      // 999 ms after the first ones: nobody is past a deadline yet
      expect(await counter(d, 'sipdisp_tcp_rejected_total', 'timeout')).toBe(0);
      clock.advance(1);
      await waitFor('the two early connections closed at their deadline', () =>
        early.every((c) => c.closed()) ? true : undefined,
      );
      expect(await counter(d, 'sipdisp_tcp_rejected_total', 'timeout')).toBe(2);
      expect(late[0]!.closed()).toBe(false);
      clock.advance(500);
      await waitFor('the late connection closed at its own deadline', () =>
        late[0]!.closed() ? true : undefined,
      );
      expect(await counter(d, 'sipdisp_tcp_rejected_total', 'timeout')).toBe(3);
      // the handed-off connection is the worker's: still open and answering
      whole.sock.write(options(31));
      await waitFor('a second 200 on the handed-off connection', () =>
        [...whole.text().matchAll(/^SIP\/2\.0 200/gm)].length === 2 ? true : undefined,
      );
      expect(whole.closed()).toBe(false);
    } finally {
      for (const c of conns) c.sock.destroy();
      await d.stop();
    }
  });
});

async function counter(d: Dispatcher, name: string, reason?: string): Promise<number> {
  const m = (await d.metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((x) => reason === undefined || x.labels['reason'] === reason);
  return Number(v?.value ?? 0);
}
