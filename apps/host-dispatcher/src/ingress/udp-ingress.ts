/**
 * The hot path for datagrams (from the service UDP sockets and from the POP link): scan the routing keys, decide
 * with {@link decideRoute}, forward over the chosen worker's seqpacket connection with a small header carrying the
 * peer. Nothing is allocated per datagram but the key scan's strings.
 */
import { extractSipKeys } from '@switchyard/affinity';
import type { Logger, RateLimitedLog } from '@switchyard/core';
import type { SeqpacketSocket } from 'node-unix-socket';
import { FRAME_FIXED, FRAME_INJECTED, FRAME_MAX_ADDR, FRAME_UDP, writeFrameHeader } from '../ipc.js';
import type { DispatcherMetrics } from '../metrics.js';
import type { AffinityRouter } from '../primary/router.js';
import { Admission, ADMISSION_DEFAULTS, type AdmissionInit } from '../overload/admission.js';
import { decideRoute, type IngressPacket, type PopRouting } from './routing.js';
import { fastStatelessResponse } from './fast-reply.js';
import {
  answerable,
  answerableRequest,
  STATELESS_REPLY_DEFAULTS,
  statelessResponse,
} from './stateless-reply.js';

export const UDP_INGRESS_DEFAULTS = {
  /**
   * A refused new call's Call-ID is remembered this long (ms) so that its retransmissions (sent before our 503
   * reached the caller: at T1, 3·T1, 7·T1 …) get 503 again instead of taking a token later for a call the caller has
   * already given up. As long as the Retry-After we send: a caller that honours it retries after that, and is
   * admitted afresh even with the same Call-ID.
   */
  refusedMemoryMs: STATELESS_REPLY_DEFAULTS.retryAfterS * 1_000,
  /** At most this many refused Call-IDs are remembered (the oldest is forgotten first): bounded memory in a flood. */
  refusedMemoryMax: 65_536,
} as const;

/** Kernel steering's view of the ingress (see src/steering/). */
export interface SteeringHook {
  routed(worker: string, local: number, address: string, port: number, conf: string | undefined): void;
}

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
  /** The injected clock's now (ms), for admission control. */
  now(): number;
}

export interface UdpIngressInit {
  maxMessageBytes: number;
  /** Overload control of new calls (see {@link Admission}). */
  admission?: AdmissionInit;
  /** See {@link UDP_INGRESS_DEFAULTS}. */
  refusedMemoryMs?: number;
  refusedMemoryMax?: number;
}

/** The stateless 503's extra header, built once. */
const RETRY_AFTER = `Retry-After: ${STATELESS_REPLY_DEFAULTS.retryAfterS}\r\n`;

export class UdpIngress {
  /** The POP data plane's hook (none: every unowned message is claimed here). */
  pop: PopRouting | undefined;
  /** Kernel steering (none: off): told of every datagram from a service socket that went to a worker. */
  steer: SteeringHook | undefined;
  /** Reused for every forwarded datagram: header + payload. */
  private readonly frame: Buffer;
  private readonly forwarded = new Map<string, { inc(): void }>();
  /** `sipdisp_dropped_total` children by reason, looked up once (a label lookup per datagram costs a hash). */
  private readonly droppedBy = new Map<string, { inc(): void }>();
  private readonly admission: Admission;
  /** Refused new calls: Call-ID → until when (ms) its retransmissions are refused too; insertion = expiry order. */
  private readonly refused = new Map<string, number>();
  private readonly refusedMemoryMs: number;
  private readonly refusedMemoryMax: number;

  constructor(
    private readonly c: UdpIngressComponents,
    private readonly init: UdpIngressInit,
  ) {
    // the key is a part of the message: at most as long as it
    this.frame = Buffer.allocUnsafe(FRAME_FIXED + FRAME_MAX_ADDR + 2 * init.maxMessageBytes);
    this.admission = new Admission(init.admission ?? ADMISSION_DEFAULTS);
    this.refusedMemoryMs = init.refusedMemoryMs ?? UDP_INGRESS_DEFAULTS.refusedMemoryMs;
    this.refusedMemoryMax = init.refusedMemoryMax ?? UDP_INGRESS_DEFAULTS.refusedMemoryMax;
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
    const k = r.keys;
    // a new call (an INVITE outside a dialog whose Call-ID no worker holds: not a retransmission) past capacity is
    // refused here, statelessly, so that the calls in progress complete
    if (
      k.method === 'INVITE' &&
      k.toTag === undefined &&
      this.c.router.readyWorkers > 0 &&
      this.c.router.calls.get(k.callId) === undefined
    ) {
      const now = this.c.now();
      if (this.wasRefused(k.callId, now)) {
        this.drop('overload-retransmission');
        this.replyOverload(msg, address, port, local);
        return false;
      }
      if (!this.admission.admit(now, this.c.router.readyWorkers)) {
        this.drop('overload');
        this.remember(k.callId, now);
        this.replyOverload(msg, address, port, local);
        return false;
      }
    }
    let d;
    try {
      d = decideRoute(this.c.router, r.keys, packet, this.pop);
    } catch (err) {
      // e.g. AFF_ERR_TABLE_FULL: lose this datagram (the peer retransmits), keep the primary up
      this.drop('route-error');
      this.c.badInput.warn({ err: String(err) }, 'routing failed');
      return false;
    }
    if (d.kind === 'forwarded') return false;
    if (d.kind === 'drop') {
      this.drop(d.reason);
      // only a deliberate refusal is answered (a drain); with no worker ready yet, e.g. just after a restart of
      // the primary, the datagram is dropped and the peer's retransmission finds a worker
      if (d.reason === 'draining') this.replyStateless(msg, address, port, local, 503);
      return false;
    }
    const conn = this.c.workerConn(d.worker);
    if (!conn) {
      this.drop('worker-not-connected');
      return false;
    }
    // the routing decision travels with the datagram: the worker uses the conference the primary routed by
    const off = writeFrameHeader(this.frame, frameType, local, address, port, r.keys.conferenceId);
    msg.copy(this.frame, off);
    try {
      conn.write(this.frame, 0, off + msg.length);
    } catch {
      // the worker just died: its exit re-homes what it held; the peer retransmits
      this.drop('worker-gone');
      return false;
    }
    this.counter(d.worker).inc();
    if (this.steer && frameType === FRAME_UDP)
      this.steer.routed(d.worker, local, address, port, k.conferenceId);
    if (d.newConference) this.c.newConference();
    return true;
  }

  /** Counts a datagram not forwarded, by reason (the counter child cached). */
  private drop(reason: string): void {
    let c = this.droppedBy.get(reason);
    if (!c) {
      c = this.c.metrics.dropped.labels({ reason });
      this.droppedBy.set(reason, c);
    }
    c.inc();
  }

  /** Whether a new call with this Call-ID was refused within the memory window. */
  private wasRefused(callId: string, now: number): boolean {
    if (this.refused.size === 0) return false;
    const until = this.refused.get(callId);
    return until !== undefined && until > now;
  }

  private remember(callId: string, now: number): void {
    // entries share one lifetime: the oldest are first in the Map; drop the expired ones, then the oldest past the bound
    for (const [key, until] of this.refused) {
      if (until > now && this.refused.size < this.refusedMemoryMax) break;
      this.refused.delete(key);
    }
    this.refused.delete(callId);
    this.refused.set(callId, now + this.refusedMemoryMs);
  }

  /** The overload 503: built from the request's bytes when it is plain (the common case), else by the parser. */
  private replyOverload(msg: Buffer, address: string, port: number, local: number): void {
    const fast = fastStatelessResponse(msg, this.init.maxMessageBytes, 503, RETRY_AFTER);
    if (fast) this.c.reply(fast, address, port, local);
    else this.replyStateless(msg, address, port, local, 503);
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
    if (reason === 'too-large') {
      this.replyStateless(msg, address, port, local, 513);
      return;
    }
    // unscannable: 400, or 505 for another SIP version (the scanner calls that not-sip)
    const a = answerable(msg, this.init.maxMessageBytes);
    if (a) this.c.reply(statelessResponse(a.req, a.status === 505 ? 505 : 400), address, port, local);
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
