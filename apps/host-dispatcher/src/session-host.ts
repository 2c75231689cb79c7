/**
 * What the POP router (tier 2) will plug into: session events out, encapsulated packets in. No POP behaviour yet.
 */
import type { EventEmitter } from 'node:events';

export interface SessionEvent {
  callId: string;
  /** The conference (Request-URI user part); absent for a dialog whose Request-URI has no user part. */
  conferenceId?: string;
  /** Worker id holding the dialog. */
  worker: string;
}

export interface SessionHost extends EventEmitter {
  /** Emits `sessionOpened` / `sessionClosed` with a {@link SessionEvent} as dialogs start and end. */
  on(event: 'sessionOpened' | 'sessionClosed', listener: (e: SessionEvent) => void): this;
  /**
   * A SIP datagram that arrived encapsulated from another host: routed by the same affinity rules as one received
   * on service address `local`; the worker answers `from` directly from the service socket. Returns whether it was
   * forwarded to a worker.
   */
  injectEncapsulated(packet: Uint8Array, from: { address: string; port: number }, local?: number): boolean;
}
