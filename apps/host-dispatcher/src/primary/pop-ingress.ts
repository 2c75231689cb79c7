/**
 * The thin adapter between the primary's UDP ingress and the pure {@link PopDataPlane}: decodes the router's table
 * frames, sends forwarded datagrams, passes claims/releases/`held` back to the router, and exposes the counters.
 * The primary calls {@link PopIngress.route} for every datagram once its keys are known.
 */
import type dgram from 'node:dgram';
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

export { LINK_FRAME_TABLE };

/** Largest encapsulation overhead of either mode. */
const OVERHEAD = Math.max(TUNNEL_MAX_OVERHEAD, VXLAN_TEMPLATE_BYTES);

export class PopIngress {
  readonly plane: PopDataPlane;
  private readonly badInput: RateLimitedLog;

  constructor(components: {
    clock: Clock;
    logger: Logger;
    registry: Registry;
    send: (frame: Buffer) => void;
    boundHere: (callId: string) => boolean;
  }) {
    this.plane = new PopDataPlane({ now: () => components.clock.now(), boundHere: components.boundHere });
    this.badInput = new RateLimitedLog(components.logger, components.clock, 10, 1000);
    this.send = components.send;
    const plane = this.plane;
    new Gauge({
      name: 'sipdisp_pop_events',
      help: 'POP data plane so far: forwarded, claimed, disagreements, encap_failed, bad_table; owners = table size',
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
      },
    });
  }
  private readonly send: (frame: Buffer) => void;

  /**
   * Returns true when the datagram was sent on to its owner host (the caller is done with it); false when it is
   * handled here, by the affinity router as without a POP.
   */
  route(
    keys: SipKeys,
    msg: Buffer,
    address: string,
    port: number,
    local: number,
    encapsulated: boolean,
    socket: dgram.Socket,
  ): boolean {
    const d = this.plane.decide(keys, encapsulated);
    this.flush();
    if (d.kind === 'local') return false;
    // one buffer per forwarded datagram: dgram.send may still read it after returning
    const out = Buffer.allocUnsafe(msg.length + OVERHEAD);
    const n = this.plane.encapsulate(out, d.host, local, address, port, msg);
    if (n < 0) return false;
    socket.send(out, 0, n, d.host.port, d.host.address);
    return true;
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
    for (const m of this.plane.takeOutbox()) this.send(encodeLinkFrame(LINK_FRAME_SESSION, m));
  }
}
