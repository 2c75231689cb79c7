/**
 * The hot path for datagrams (from the service UDP sockets and from the POP link): scan the routing keys, decide
 * with {@link decideRoute}, forward over the chosen worker's seqpacket connection with a small header carrying the
 * peer. Nothing is allocated per datagram but the key scan's strings.
 */
import { extractSipKeys } from '@switchyard/affinity';
import type { Logger, RateLimitedLog } from '@switchyard/core';
import type { SeqpacketSocket } from 'node-unix-socket';
import { FRAME_FIXED, FRAME_INJECTED, FRAME_MAX_ADDR, writeFrameHeader } from '../ipc.js';
import type { DispatcherMetrics } from '../metrics.js';
import type { AffinityRouter } from '../primary/router.js';
import { decideRoute, type IngressPacket, type PopRouting } from './routing.js';
import { answerableRequest, statelessResponse } from './stateless-reply.js';

export interface UdpIngressComponents {
  router: AffinityRouter;
  metrics: DispatcherMetrics;
  /** Rate-limited log for bad input. */
  badInput: RateLimitedLog | Logger;
  /** The worker's seqpacket connection, if it is connected. */
  workerConn(id: string): SeqpacketSocket | undefined;
  /** Sends a stateless answer from service address `local`. */
  reply(bytes: Buffer, address: string, port: number, local: number): void;
  /** A new conference was placed: the pool may need another worker. */
  newConference(): void;
}

export interface UdpIngressInit {
  maxMessageBytes: number;
}

export class UdpIngress {
  /** The POP data plane's hook (none: every unowned message is claimed here). */
  pop: PopRouting | undefined;
  /** Reused for every forwarded datagram: header + payload. */
  private readonly frame: Buffer;
  private readonly forwarded = new Map<string, { inc(): void }>();

  constructor(
    private readonly c: UdpIngressComponents,
    private readonly init: UdpIngressInit,
  ) {
    // the key is a part of the message: at most as long as it
    this.frame = Buffer.allocUnsafe(FRAME_FIXED + FRAME_MAX_ADDR + 2 * init.maxMessageBytes);
  }

  /** One datagram. Returns whether it went to a worker here. */
  onDatagram(msg: Buffer, address: string, port: number, local: number, frameType: number): boolean {
    const m = this.c.metrics;
    m.datagrams.inc();
    const r = extractSipKeys(msg, { maxBytes: this.init.maxMessageBytes });
    if (!r.ok) {
      this.reject(msg, address, port, local, r.reason);
      return false;
    }
    const packet: IngressPacket = {
      payload: msg,
      address,
      port,
      local,
      transport: 'udp',
      injected: frameType === FRAME_INJECTED,
    };
    let d;
    try {
      d = decideRoute(this.c.router, r.keys, packet, this.pop);
    } catch (err) {
      // e.g. AFF_ERR_TABLE_FULL: lose this datagram (the peer retransmits), keep the primary up
      m.dropped.inc({ reason: 'route-error' });
      this.c.badInput.warn({ err: String(err) }, 'routing failed');
      return false;
    }
    if (d.kind === 'forwarded') return false;
    if (d.kind === 'drop') {
      m.dropped.inc({ reason: d.reason });
      if (d.reason !== 'stray' && d.reason !== 'pop') this.replyStateless(msg, address, port, local, 503);
      return false;
    }
    const conn = this.c.workerConn(d.worker);
    if (!conn) {
      m.dropped.inc({ reason: 'worker-not-connected' });
      return false;
    }
    // the routing decision travels with the datagram: the worker uses the conference the primary routed by
    const off = writeFrameHeader(this.frame, frameType, local, address, port, r.keys.conferenceId);
    msg.copy(this.frame, off);
    try {
      conn.write(this.frame, 0, off + msg.length);
    } catch {
      // the worker just died: its exit re-homes what it held; the peer retransmits
      m.dropped.inc({ reason: 'worker-gone' });
      return false;
    }
    this.counter(d.worker).inc();
    if (d.newConference) this.c.newConference();
    return true;
  }

  /** Forgets a worker's forwarded counter (it exited). */
  forget(worker: string): void {
    this.forwarded.delete(worker);
  }

  private counter(worker: string): { inc(): void } {
    let c = this.forwarded.get(worker);
    if (!c) {
      c = this.c.metrics.forwarded.labels({ worker });
      this.forwarded.set(worker, c);
    }
    return c;
  }

  private reject(msg: Buffer, address: string, port: number, local: number, reason: string): void {
    this.c.metrics.malformed.inc({ where: 'primary', reason });
    this.c.badInput.warn({ reason, peer: `${address}:${port}`, bytes: msg.length }, 'malformed SIP datagram');
    if (reason === 'empty') return;
    this.replyStateless(msg, address, port, local, reason === 'too-large' ? 513 : 400);
  }

  private replyStateless(
    msg: Buffer,
    address: string,
    port: number,
    local: number,
    status: 400 | 503 | 513,
  ): void {
    const req = answerableRequest(msg, this.init.maxMessageBytes);
    if (req) this.c.reply(statelessResponse(req, status), address, port, local);
  }
}
