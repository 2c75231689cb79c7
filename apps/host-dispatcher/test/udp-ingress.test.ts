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
  const ingress = new UdpIngress(
    {
      router,
      metrics: new DispatcherMetrics(),
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
  return { clock, router, ingress, replies, forwarded, send };
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
