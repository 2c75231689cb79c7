/**
 * The one routing decision of the primary, shared by UDP ingress, TCP hand-off and the POP link: a message whose
 * dialog or conference a worker here holds goes to that worker; otherwise a pluggable {@link PopRouting} hook (the
 * POP data plane) may forward it to the host that owns the session, drop it, or claim it here; a claimed message
 * goes to the least-loaded ready worker.
 */
import type { SipKeys } from '@switchyard/affinity';
import type { AffinityRouter, RouteDecision } from '../primary/router.js';

/** One message as it reached the primary. `payload` is only valid during the call (a reused buffer). */
export interface IngressPacket {
  readonly payload: Buffer;
  /** The peer. */
  readonly address: string;
  readonly port: number;
  /** Index of the service address it arrived on (`--listen` order). */
  readonly local: number;
  readonly transport: 'udp' | 'tcp';
  /**
   * Arrived encapsulated from another POP host (`udp` tunnel injection or the `--inner-address` socket): handled
   * here, never forwarded again.
   */
  readonly injected: boolean;
}

/** What the POP data plane says about a message no worker here holds. */
export type PopVerdict =
  /** Handle it here (the session is, or becomes, this host's). */
  | 'claim'
  /** The hook sent it to the owning host: nothing more to do here. */
  | 'forwarded'
  /** Neither (e.g. the owner is unreachable): dropped, the peer retransmits. */
  | 'drop';

/**
 * The POP data plane's hook into the primary (tier 2 in front of tier 3). Called on the hot path for every UDP
 * message no local worker holds (never for TCP, whose connection cannot be forwarded). Injected (arrived
 * encapsulated) messages are offered too, so that the data plane can count disagreements and claim them, but the
 * hook must never answer `forwarded` for them: one forward at most, never a bounce.
 */
export interface PopRouting {
  unowned(packet: IngressPacket, keys: SipKeys): PopVerdict;
}

export type IngressDecision = RouteDecision | { kind: 'forwarded' } | { kind: 'drop'; reason: 'pop' };

/** Decides where one message goes. Binds the Call-ID (and a new conference) when it places the message here. */
export function decideRoute(
  router: AffinityRouter,
  keys: SipKeys,
  packet: IngressPacket,
  pop: PopRouting | undefined,
): IngressDecision {
  const owned = router.owned(keys);
  if (owned) return owned;
  if (pop && packet.transport === 'udp') {
    const verdict = pop.unowned(packet, keys);
    // an injected message is handled here whatever the hook says (it must not have sent it on)
    if (!packet.injected) {
      if (verdict === 'forwarded') return { kind: 'forwarded' };
      if (verdict === 'drop') return { kind: 'drop', reason: 'pop' };
    }
  }
  return router.place(keys);
}
