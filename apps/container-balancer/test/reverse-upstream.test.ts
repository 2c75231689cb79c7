/**
 * The reverse-mode upstream over a real TCP connection carrying HTTP/2 (the container side serves, as a mixer in
 * reverse mode does), with the wait for response headers timed by a ManualClock: no sleep, no wall-clock bound.
 */
import http2 from 'node:http2';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, flushEventLoop } from '@switchyard/core';
import { waitFor } from '@switchyard/testing';
import { ReverseUpstream } from '../src/upstream/reverse-upstream.js';
import { requestOn } from '../src/upstream/upstream.js';
import { UpstreamFailure } from '../src/upstream/upstream.js';
import { HOST } from './helpers/start.js';

describe('reverse upstream (HTTP/2 over the dialed connection)', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  /** A container's HTTP/2 server on one side of a real TCP connection, the upstream on the other. */
  async function pair(clock: ManualClock) {
    const held: http2.ServerHttp2Stream[] = [];
    const cancelled: number[] = [];
    const h2 = http2.createServer();
    h2.on('stream', (stream, headers) => {
      stream.once('close', () => cancelled.push(stream.rstCode));
      if (headers[':path'] === '/hang') held.push(stream);
      else {
        stream.respond({ ':status': 200 });
        stream.end('ok');
      }
    });
    const listener = net.createServer((sock) => h2.emit('connection', sock));
    await new Promise<void>((r) => listener.listen(0, HOST, r));
    const port = (listener.address() as net.AddressInfo).port;
    const sock = net.connect(port, HOST);
    await new Promise<void>((r, j) => sock.once('connect', r).once('error', j));
    const up = new ReverseUpstream({ clock }, sock);
    cleanup.push(async () => {
      await up.destroy();
      await new Promise<void>((r) => listener.close(() => r()));
      h2.close();
    });
    return { up, held, cancelled };
  }

  it('fails with kind timeout exactly when the clock passes the timeout, and cancels the stream', async () => {
    const clock = new ManualClock();
    const { up, held, cancelled } = await pair(clock);
    let outcome: unknown;
    void requestOn(up, { method: 'GET', path: '/hang', headers: [], timeoutMs: 1000 }).then(
      (r) => (outcome = r),
      (e: unknown) => (outcome = e),
    );
    await waitFor('the container holds the request', () => held.length === 1);
    await clock.advanceAsync(999);
    expect(outcome).toBeUndefined();
    await clock.advanceAsync(1);
    expect(outcome).toBeInstanceOf(UpstreamFailure);
    expect((outcome as UpstreamFailure).kind).toBe('timeout');
    await waitFor('the container sees the stream cancelled', () => cancelled.length === 1);
    expect(cancelled[0]).toBe(http2.constants.NGHTTP2_CANCEL);
  });

  it('a response in time clears the timer: advancing past the timeout changes nothing', async () => {
    const clock = new ManualClock();
    const { up } = await pair(clock);
    const r = await requestOn(up, { method: 'GET', path: '/ok', headers: [], timeoutMs: 1000 });
    expect(r.status).toBe(200);
    const chunks: Buffer[] = [];
    for await (const c of r.body) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('ok');
    expect(clock.pending()).toBe(0);
    clock.advance(5000);
    await flushEventLoop();
  });
});
