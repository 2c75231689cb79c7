/**
 * The TCP hand-off channel (src/handoff-channel.ts): the primary passes each connection's descriptor with the bytes
 * it read over a Unix socket of its own, one write per connection and nothing back. What must hold: descriptors and
 * frames pair up in order whatever the reads (many connections at once, a frame larger than one read), a worker
 * forked after a crash gets a channel too, and with the channel off connections still go over Node's IPC channel.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@switchyard/testing';
import type { Dispatcher } from '../src/index.js';
import { HANDOFF_HEADER, HandoffFrames } from '../src/handoff-channel.js';
import { invite } from './sip-fixtures.js';
import { oneWorkerDispatcher } from './one-worker-dispatcher.js';

const options = (callId: string, body = '') => {
  const m = invite({ method: 'OPTIONS', callId, conf: 'conf-hc', branch: `z9hG4bK-${callId}` }).toString(
    'latin1',
  );
  return Buffer.from(
    body ? m.replace('Content-Length: 0', `Content-Length: ${body.length}`) + body : m,
    'latin1',
  );
};

async function counter(d: Dispatcher, name: string): Promise<number> {
  const m = (await d.metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return Number(m?.values[0]?.value ?? 0);
}

/** Connects, writes `msg`, and resolves with what came back once `want` responses (or a close) were read. */
function exchange(port: number, msg: Buffer, want = 1): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let text = '';
    const n = () => [...text.matchAll(/^SIP\/2\.0 \d{3}/gm)].length;
    sock.on('connect', () => sock.write(msg));
    sock.on('data', (b: Buffer) => {
      text += b.toString('latin1');
      if (n() >= want && text.endsWith('\r\n\r\n')) {
        sock.destroy();
        resolve(text);
      }
    });
    sock.on('close', () => resolve(text));
    sock.on('error', reject);
  });
}

describe('HandoffFrames: frames and descriptors paired in order', () => {
  const frame = (local: number, s: string) => {
    const b = Buffer.alloc(HANDOFF_HEADER + s.length);
    b.writeUInt32BE(s.length, 0);
    b[4] = local;
    b.write(s, HANDOFF_HEADER, 'latin1');
    return b;
  };

  it('pairs each whole frame with the oldest descriptor, across reads that split frames anywhere', () => {
    const f = new HandoffFrames();
    const all = Buffer.concat([frame(0, 'first'), frame(1, 'second'), frame(2, '')]);
    const got: { h: unknown; local: number; s: string }[] = [];
    const take = (xs: ReturnType<HandoffFrames['push']>) =>
      got.push(...xs.map((x) => ({ h: x.handle, local: x.local, s: x.bytes.toString('latin1') })));
    // the descriptor comes with the read that holds its frame's first byte
    take(f.push(all.subarray(0, 3), 'h1'));
    expect(got).toEqual([]);
    take(f.push(all.subarray(3, 12), undefined));
    take(f.push(all.subarray(12, 14), 'h2'));
    expect(got).toEqual([{ h: 'h1', local: 0, s: 'first' }]);
    take(f.push(all.subarray(14, 21), 'h3'));
    take(f.push(all.subarray(21), undefined));
    expect(got).toEqual([
      { h: 'h1', local: 0, s: 'first' },
      { h: 'h2', local: 1, s: 'second' },
      { h: 'h3', local: 2, s: '' },
    ]);
    expect(f.orphans).toBe(0);
    expect(f.drain()).toEqual([]);
  });

  it('counts a frame without a descriptor and hands back descriptors whose frame never came whole', () => {
    const f = new HandoffFrames();
    expect(f.push(frame(0, 'x'), undefined)).toEqual([]);
    expect(f.orphans).toBe(1);
    expect(f.push(frame(0, 'partial').subarray(0, 6), 'h9')).toEqual([]);
    expect(f.drain()).toEqual(['h9']);
  });
});

describe('TCP hand-off channel on a real dispatcher (2 workers)', () => {
  let d: Dispatcher;
  let port: number;
  beforeAll(async () => {
    d = oneWorkerDispatcher({ minWorkers: 2, maxWorkers: 2, maxMessageBytes: 65535 });
    await d.start();
    port = d.addresses[0]!.port;
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('60 connections at once: each gets the answer to its own first message, all over the channel', async () => {
    const before = await counter(d, 'sipdisp_tcp_handoffs_total');
    const ids = Array.from({ length: 60 }, (_, i) => `hc-${i}@127.0.0.1`);
    const answers = await Promise.all(ids.map((id) => exchange(port, options(id))));
    for (const [i, a] of answers.entries()) {
      expect(a.startsWith('SIP/2.0 200'), `connection ${i}: ${a.slice(0, 80)}`).toBe(true);
      // the worker echoes the Call-ID: the descriptor went with its own connection's bytes
      expect(a).toContain(`Call-ID: ${ids[i]}`);
    }
    expect(await counter(d, 'sipdisp_tcp_handoffs_total')).toBe(before + 60);
    expect(await counter(d, 'sipdisp_tcp_handoffs_ipc_total')).toBe(0);
    const ws = await d.listWorkers();
    expect(ws.filter((w) => (w.state?.requests ?? 0) > 0).length).toBe(2);
  });

  it('a first message larger than one read, with a second message behind it in the same bytes', async () => {
    const body = 'v=0\r\n' + 'a'.repeat(60_000) + '\r\n';
    const first = options('hc-big@127.0.0.1', body);
    const text = await exchange(port, Buffer.concat([first, options('hc-behind@127.0.0.1')]), 2);
    const calls = [...text.matchAll(/^Call-ID: (\S+)/gm)].map((m) => m[1]);
    expect(calls).toEqual(['hc-big@127.0.0.1', 'hc-behind@127.0.0.1']);
    expect(await counter(d, 'sipdisp_tcp_handoffs_ipc_total')).toBe(0);
  });

  it('a worker forked after a crash gets a channel of its own', async () => {
    const [victim] = await d.listWorkers();
    process.kill(victim!.pid, 'SIGKILL');
    await waitFor('two ready workers again, the killed one replaced', async () => {
      const ws = await d.listWorkers();
      return ws.length === 2 && ws.every((w) => w.status === 'ready' && w.pid !== victim!.pid)
        ? true
        : undefined;
    });
    const before = await counter(d, 'sipdisp_tcp_handoffs_total');
    const ids = Array.from({ length: 20 }, (_, i) => `hc-after-${i}@127.0.0.1`);
    const answers = await Promise.all(ids.map((id) => exchange(port, options(id))));
    for (const [i, a] of answers.entries()) expect(a).toContain(`Call-ID: ${ids[i]}`);
    expect(await counter(d, 'sipdisp_tcp_handoffs_total')).toBe(before + 20);
    expect(await counter(d, 'sipdisp_tcp_handoffs_ipc_total')).toBe(0);
  });
});

describe("TCP hand-off channel off: connections go over Node's IPC channel", () => {
  it('answers every connection, each hand-off counted as over IPC', async () => {
    const d = oneWorkerDispatcher({ tcpHandoffChannel: false });
    await d.start();
    try {
      const port = d.addresses[0]!.port;
      const ids = Array.from({ length: 10 }, (_, i) => `hc-ipc-${i}@127.0.0.1`);
      const answers = await Promise.all(ids.map((id) => exchange(port, options(id))));
      for (const [i, a] of answers.entries()) expect(a).toContain(`Call-ID: ${ids[i]}`);
      expect(await counter(d, 'sipdisp_tcp_handoffs_total')).toBe(10);
      expect(await counter(d, 'sipdisp_tcp_handoffs_ipc_total')).toBe(10);
    } finally {
      await d.stop();
    }
  });
});
