/**
 * The thin adapter between the primary's UDP ingress and the pure {@link PopDataPlane}: decodes the router's table
 * frames, sends forwarded datagrams, passes claims/releases/`held` back to the router, and exposes the counters.
 * It is the primary's {@link PopRouting} hook: called for each UDP message no worker here holds.
 */
import { Gauge, type Registry } from 'prom-client';
import type { SipKeys } from '@switchyard/affinity';
import { RateLimitedLog, type Clock, type Logger } from '@switchyard/core';
import {
  decodeRouterMessage,
  encodeLinkFrame,
  heldChunks,
  LINK_FRAME_SESSION,
  LINK_FRAME_TABLE,
  TUNNEL_MAX_OVERHEAD,
  VXLAN_TEMPLATE_BYTES,
} from '@switchyard/pop-wire';
import { PopDataPlane } from './pop-data-plane.js';
import type { IngressPacket, PopRouting, PopVerdict } from '../ingress/routing.js';

export { LINK_FRAME_TABLE };

/** Largest encapsulation overhead of either mode. */
const OVERHEAD = Math.max(TUNNEL_MAX_OVERHEAD, VXLAN_TEMPLATE_BYTES);

export class PopIngress implements PopRouting {
  readonly plane: PopDataPlane;
  private readonly badInput: RateLimitedLog;

  constructor(components: {
    clock: Clock;
    logger: Logger;
    registry: Registry;
    send: (frame: Buffer) => void;
    /** This host's owner token for the workers' Contact (C9), whenever a router's snapshot (re)sets it. */
    ownerToken?: (token: string | undefined) => void;
    /** Sends an encapsulated datagram from service address `local`'s socket. */
    sendDatagram: (bytes: Buffer, length: number, address: string, port: number, local: number) => void;
  }) {
    this.plane = new PopDataPlane({ now: () => components.clock.now() });
    this.sendDatagram = components.sendDatagram;
    this.badInput = new RateLimitedLog(components.logger, components.clock, 10, 1000);
    this.send = components.send;
    this.onOwnerToken = components.ownerToken;
    const plane = this.plane;
    new Gauge({
      name: 'sipdisp_pop_events',
      help:
        'POP data plane so far: forwarded, claimed, disagreements, encap_failed, bad_table, token_routed, ' +
        'token_refused (forged owner tokens), token_stale (owner not alive), response_routed / response_refused / ' +
        "response_stale (responses by their top Via owner token, C14), followed (a forwarded call's retransmission or " +
        'CANCEL sent where its opening request went); owners = table size',
      labelNames: ['event'] as const,
      registers: [components.registry],
      collect() {
        const c = plane.counters;
        this.set({ event: 'forwarded' }, c.forwarded);
        this.set({ event: 'claimed' }, c.claimed);
        this.set({ event: 'disagreements' }, c.disagreements);
        this.set({ event: 'encap_failed' }, c.encapFailed);
        this.set({ event: 'bad_table' }, c.badTable);
        this.set({ event: 'owners' }, plane.ownerCount);
        this.set({ event: 'token_routed' }, c.tokenRouted);
        this.set({ event: 'token_refused' }, c.tokenRefused);
        this.set({ event: 'token_stale' }, c.tokenStale);
        this.set({ event: 'response_routed' }, c.responseRouted);
        this.set({ event: 'response_refused' }, c.responseRefused);
        this.set({ event: 'response_stale' }, c.responseStale);
        this.set({ event: 'followed' }, c.followed);
      },
    });
  }
  private readonly send: (frame: Buffer) => void;
  private readonly onOwnerToken: ((token: string | undefined) => void) | undefined;
  private readonly sendDatagram: (
    bytes: Buffer,
    length: number,
    address: string,
    port: number,
    local: number,
  ) => void;

  /**
   * The primary's {@link PopRouting} hook, called for a message no worker here holds: `forwarded` when it was
   * encapsulated to its owner host, `claim` when it is (or becomes) this host's.
   */
  unowned(packet: IngressPacket, keys: SipKeys): PopVerdict {
    const d = this.plane.decide(keys, packet.injected, packet.payload);
    this.flush();
    // the data plane never forwards an injected datagram; the guard keeps one forward at most if that changed
    if (d.kind === 'local' || packet.injected) return 'claim';
    // one buffer per forwarded datagram: dgram.send may still read it after returning
    const out = Buffer.allocUnsafe(packet.payload.length + OVERHEAD);
    const n = this.plane.encapsulate(out, d.host, packet.local, packet.address, packet.port, packet.payload);
    if (n < 0) return 'claim';
    this.sendDatagram(out, n, d.host.address, d.host.port, packet.local);
    return 'forwarded';
  }

  /** A frame from the router that is not an injected datagram. */
  onRouterFrame(frame: Buffer): void {
    const m = decodeRouterMessage(frame);
    if (!m) {
      this.plane.counters.badTable++;
      this.badInput.warn({ bytes: frame.length }, 'malformed table frame from the pop-router');
      return;
    }
    this.plane.apply(m);
    if (m.kind === 'snapshot') this.onOwnerToken?.(this.plane.selfToken);
  }

  /** A router (re)connected: tell it what we hold so it re-claims it. */
  routerConnected(): void {
    for (const m of heldChunks(this.plane.held())) this.send(encodeLinkFrame(LINK_FRAME_SESSION, m));
  }

  dialogOpened(session: string, callId: string): void {
    this.plane.dialogOpened(session, callId);
  }

  dialogClosed(session: string, callId: string): void {
    this.plane.dialogClosed(session, callId);
    this.flush();
  }

  private flush(): void {
    // indexed: the hot path calls this for every datagram, nearly always with nothing queued
    const out = this.plane.takeOutbox();
    for (let i = 0; i < out.length; i++) this.send(encodeLinkFrame(LINK_FRAME_SESSION, out[i]!));
  }
}
