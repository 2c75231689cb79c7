/** The primary's datagram path without sockets: overload control and silence while no worker is ready. */
import { describe, expect, it } from 'vitest';
import { ManualClock, silentLogger } from '@switchyard/core';
import { AffinityRouter, DispatcherMetrics, FRAME_UDP, UdpIngress } from '../src/index.js';
import { invite } from './sip-fixtures.js';

function setup(workers: string[], callsPerWorkerPerS: number) {
  const clock = new ManualClock();
  const router = new AffinityRouter({ clock }, { idleTtlMs: 32_000, loadThreshold: 100 });
  for (const w of workers) router.workerUp(w);
  const replies: string[] = [];
  const forwarded: string[] = [];
  const metrics = new DispatcherMetrics();
  const ingress = new UdpIngress(
    {
      router,
      metrics,
      badInput: silentLogger,
      // a stand-in for the worker's seqpacket connection: records what would be written
      workerConn: (id) =>
        ({ write: (b: Buffer) => forwarded.push(`${id} ${b.length}`) }) as unknown as ReturnType<
          ConstructorParameters<typeof UdpIngress>[0]['workerConn']
        >,
      reply: (bytes) => replies.push(bytes.toString('latin1').split('\r\n')[0]!),
      newConference: () => undefined,
      now: () => clock.now(),
    },
    { maxMessageBytes: 16384, admission: { callsPerWorkerPerS, burstS: 0.5 } },
  );
  const send = (raw: Buffer) => ingress.onDatagram(raw, '127.0.0.1', 5080, 0, FRAME_UDP);
  return { clock, router, ingress, replies, forwarded, send, metrics };
}

describe('UdpIngress', () => {
  it('past capacity refuses new calls with a stateless 503, while calls in progress and retransmissions pass', () => {
    // 2 calls/s per worker, 1 worker: a burst of 1
    const t = setup(['w1'], 2);
    expect(t.send(invite({ callId: 'a', branch: 'z9hG4bK-a' }))).toBe(true);
    expect(t.send(invite({ callId: 'b', branch: 'z9hG4bK-b' }))).toBe(false);
    expect(t.replies).toEqual(['SIP/2.0 503 Service Unavailable']);
    // the admitted call goes on: its retransmission, ACK and BYE reach its worker
    expect(t.send(invite({ callId: 'a', branch: 'z9hG4bK-a' }))).toBe(true);
    expect(t.send(invite({ callId: 'a', method: 'ACK', toTag: 't', body: '' }))).toBe(true);
    expect(t.send(invite({ callId: 'a', method: 'BYE', toTag: 't', cseq: 2, body: '' }))).toBe(true);
    // half a second later the bucket has a token again
    t.clock.advance(500);
    expect(t.send(invite({ callId: 'c', branch: 'z9hG4bK-c' }))).toBe(true);
    expect(t.forwarded).toHaveLength(5);
  });

  it("answers a refused call's retransmissions 503 again, without taking a token, until Retry-After has passed", async () => {
    const t = setup(['w1'], 2);
    expect(t.send(invite({ callId: 'a', branch: 'z9hG4bK-a' }))).toBe(true);
    expect(t.send(invite({ callId: 'b', branch: 'z9hG4bK-b' }))).toBe(false);
    // the bucket refills, but b's retransmissions (sent before our 503 reached the caller) are refused again: the
    // caller has given b up, a token spent on it would be capacity lost
    t.clock.advance(500);
    expect(t.send(invite({ callId: 'b', branch: 'z9hG4bK-b' }))).toBe(false);
    t.clock.advance(1_000);
    expect(t.send(invite({ callId: 'b', branch: 'z9hG4bK-b' }))).toBe(false);
    // the token is still there for a new call
    expect(t.send(invite({ callId: 'c', branch: 'z9hG4bK-c' }))).toBe(true);
    expect(t.replies).toEqual(Array(3).fill('SIP/2.0 503 Service Unavailable'));
    expect(t.forwarded).toHaveLength(2);
    // a caller honouring Retry-After (5 s) retries, with the same Call-ID, and is admitted afresh
    t.clock.advance(5_000);
    expect(t.send(invite({ callId: 'b', branch: 'z9hG4bK-b2', cseq: 2 }))).toBe(true);
    const lines = (await t.metrics.registry.metrics()).split('\n');
    expect(lines).toContain('sipdisp_dropped_total{reason="overload"} 1');
    expect(lines).toContain('sipdisp_dropped_total{reason="overload-retransmission"} 2');
  });

  it('remembers a bounded number of refused calls', () => {
    const clock = new ManualClock();
    const router = new AffinityRouter({ clock }, { idleTtlMs: 32_000, loadThreshold: 100 });
    router.workerUp('w1');
    const forwarded: string[] = [];
    const ingress = new UdpIngress(
      {
        router,
        metrics: new DispatcherMetrics(),
        badInput: silentLogger,
        workerConn: (id) =>
          ({ write: () => forwarded.push(id) }) as unknown as ReturnType<
            ConstructorParameters<typeof UdpIngress>[0]['workerConn']
          >,
        reply: () => undefined,
        newConference: () => undefined,
        now: () => clock.now(),
      },
      { maxMessageBytes: 16384, admission: { callsPerWorkerPerS: 1, burstS: 1 }, refusedMemoryMax: 3 },
    );
    const send = (callId: string) => ingress.onDatagram(invite({ callId }), '127.0.0.1', 5080, 0, FRAME_UDP);
    expect(send('first')).toBe(true);
    for (const id of ['r1', 'r2', 'r3', 'r4']) expect(send(id)).toBe(false);
    // a token again: r1 was forgotten (the bound is 3), r4 is still remembered
    clock.advance(1_000);
    expect(send('r4')).toBe(false);
    expect(send('r1')).toBe(true);
  });

  it('drops, never answers, while no worker is ready (after a restart of the primary)', () => {
    const t = setup([], 2);
    expect(t.send(invite({ callId: 'a' }))).toBe(false);
    expect(t.send(invite({ callId: 'b', method: 'OPTIONS', body: '' }))).toBe(false);
    expect(t.replies).toEqual([]);
  });

  it('answers a drain with 503', () => {
    const t = setup(['w1'], 0);
    t.router.closeForNew();
    t.send(invite({ callId: 'a' }));
    expect(t.replies).toEqual(['SIP/2.0 503 Service Unavailable']);
  });
});
