/**
 * Kernel steering, the worker's side: one UDP socket per delegated peer, bound to the service address (SO_REUSEADDR,
 * like the primary's service socket) and connected to the peer. The kernel then gives this socket the peer's
 * datagrams instead of the primary's unconnected service socket. Every datagram is checked ({@link steeredVerdict});
 * what this worker must not handle alone goes back to the primary as a bounce frame, never dropped, including what
 * lands here in the window between bind() and connect() (then the socket is the newest unconnected one on the port
 * and may get ANY peer's datagram) and what was queued from another peer before connect().
 *
 * Closing loses nothing: the socket is first re-connected to a private marker socket (so the kernel gives the peer's
 * new datagrams to the primary's service socket again), then a marker datagram is sent to it from there; it queues
 * behind whatever the peer's datagrams already wait in the socket, and those are bounced to the primary until the
 * marker arrives; only then is the socket closed (see docs/host-dispatcher.md "Kernel steering").
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { extractSipKeys } from '@switchyard/affinity';
import type { Clock, Logger, TimerHandle } from '@switchyard/core';
import type { LocalAddress } from '../ipc.js';
import {
  isSteerableAddress,
  peerKey,
  STEERING_DEFAULTS,
  type SteeredPeer,
  type SteeringEnd,
} from './steering-table.js';
import { steeredVerdict, type HeldHere } from './steered-verdict.js';

export interface SteeredSocketsComponents {
  clock: Clock;
  logger: Logger;
  /** The service addresses, by index (the primary's `--listen` order). */
  locals(): readonly LocalAddress[];
  held: HeldHere;
  /** Handle a datagram here, as if the primary had routed it with this conference key. */
  deliver(payload: Buffer, peer: SteeredPeer, conference: string | undefined): void;
  /** Hand a datagram to the primary; `undelegated`: this socket was closed because of it. */
  bounce(payload: Buffer, peer: SteeredPeer, undelegated: boolean): void;
  /** The connected socket is up (`ok`), or it ended / could not be made (`reason`). Not called for a bounce close. */
  report(peer: SteeredPeer, gen: number, event: { ok: true } | { ok: false; reason: SteeringEnd }): void;
}

export interface SteeredSocketsInit {
  maxSockets: number;
  idleMs: number;
  idleSweepMs: number;
  maxMessageBytes: number;
  /** A closing socket whose marker has not arrived by then is closed anyway (see STEERING_DEFAULTS.drainMs). */
  drainMs: number;
}

const MARKER = Buffer.alloc(0);

interface Entry {
  peer: SteeredPeer;
  gen: number;
  sock: dgram.Socket;
  connected: boolean;
  closed: boolean;
  lastUsed: number;
  /** While closing: the marker socket the connected socket is re-connected to, and the drain deadline. */
  marker?: dgram.Socket;
  markerPort?: number;
  markerAddress?: string;
  deadline?: TimerHandle;
}

export class SteeredSockets {
  private readonly entries = new Map<string, Entry>();
  /** Closing sockets still draining their queue (no longer in `entries`: a new delegation of the peer may start). */
  private readonly draining = new Set<Entry>();
  private sweep: TimerHandle | undefined;
  readonly counters = { local: 0, bounced: 0, undelegated: 0, drained: 0 };

  constructor(
    private readonly c: SteeredSocketsComponents,
    private readonly init: SteeredSocketsInit = {
      ...STEERING_DEFAULTS,
      maxSockets: STEERING_DEFAULTS.maxPerWorker,
      maxMessageBytes: 65_535,
    },
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Closing sockets whose queue is still being drained. */
  get drainingCount(): number {
    return this.draining.size;
  }

  /** Whether a connected socket for this peer is up. */
  connected(peer: SteeredPeer): boolean {
    return this.entries.get(peerKey(peer.local, peer.address, peer.port))?.connected ?? false;
  }

  /** The primary delegates a peer: bind to its service address, connect to the peer. */
  steer(peer: SteeredPeer, gen: number): void {
    const key = peerKey(peer.local, peer.address, peer.port);
    const local = this.c.locals()[peer.local];
    if (
      this.entries.has(key) ||
      !local ||
      !isSteerableAddress(local.address) ||
      this.entries.size >= this.init.maxSockets
    ) {
      this.c.report(peer, gen, { ok: false, reason: 'refused' });
      return;
    }
    const sock = dgram.createSocket({ type: net.isIPv6(local.address) ? 'udp6' : 'udp4', reuseAddr: true });
    const e: Entry = { peer, gen, sock, connected: false, closed: false, lastUsed: this.c.clock.now() };
    this.entries.set(key, e);
    sock.on('message', (msg, rinfo) => this.onMessage(e, msg, rinfo.address, rinfo.port));
    sock.on('error', (err) => {
      this.c.logger.warn({ err, peer: `${peer.address}:${peer.port}` }, 'steered socket failed');
      this.close(e, 'refused', true, true);
    });
    sock.bind(local.port, local.address, () => {
      if (e.closed) return;
      sock.connect(peer.port, peer.address, () => {
        if (e.closed) return;
        e.connected = true;
        e.lastUsed = this.c.clock.now();
        this.c.report(peer, gen, { ok: true });
      });
    });
    this.sweep ??= this.c.clock.setInterval(() => this.closeIdle(), this.init.idleSweepMs);
  }

  /** The primary takes a delegation back (only the generation it asked for: a newer one stays). */
  unsteer(peer: SteeredPeer, gen: number): void {
    const e = this.entries.get(peerKey(peer.local, peer.address, peer.port));
    if (e && e.gen === gen) this.close(e, 'revoked', false);
  }

  /**
   * Closes every connected socket at once, without draining (the process exits: the primary took the delegations
   * back before stopping it); the peers' datagrams go to the primary again.
   */
  closeAll(reason: SteeringEnd): void {
    for (const e of [...this.entries.values()]) this.close(e, reason, true, true);
    for (const e of [...this.draining]) this.finish(e);
  }

  private onMessage(e: Entry, msg: Buffer, address: string, port: number): void {
    const from: SteeredPeer = { local: e.peer.local, address, port };
    if (e.marker) {
      // closing: the marker ends the drain; everything queued before it goes to the primary
      if (port === e.markerPort && msg.length === 0 && address === e.markerAddress) this.finish(e);
      else {
        this.counters.bounced++;
        this.counters.drained++;
        this.c.bounce(msg, from, false);
      }
      return;
    }
    // before connect(): the newest unconnected socket on the port may get any peer's datagram; after it, datagrams
    // queued before it may still be another peer's. Neither is ours to judge: the primary routes them
    if (!e.connected || e.closed || address !== e.peer.address || port !== e.peer.port) {
      this.counters.bounced++;
      this.c.bounce(msg, from, false);
      return;
    }
    e.lastUsed = this.c.clock.now();
    const v = steeredVerdict(extractSipKeys(msg, { maxBytes: this.init.maxMessageBytes }), this.c.held);
    if (v.kind === 'local') {
      this.counters.local++;
      this.c.deliver(msg, from, v.conference);
      return;
    }
    this.counters.bounced++;
    if (v.kind === 'bounce') {
      this.c.bounce(msg, from, false);
      return;
    }
    // the bounce frame itself tells the primary the delegation ended (it precedes anything else we send on that
    // channel), so no separate report
    this.counters.undelegated++;
    this.c.bounce(msg, from, true);
    this.close(e, 'bounced', false);
  }

  private closeIdle(): void {
    const before = this.c.clock.now() - this.init.idleMs;
    for (const e of [...this.entries.values()]) if (e.lastUsed <= before) this.close(e, 'idle', true);
    if (this.entries.size === 0 && this.sweep) {
      this.c.clock.clearInterval(this.sweep);
      this.sweep = undefined;
    }
  }

  /**
   * Ends a delegation. Unless `now` (an error, the process exits), the socket first stops taking the peer's new
   * datagrams and its queue is drained to the primary (see the file comment).
   */
  private close(e: Entry, reason: SteeringEnd, report: boolean, now = false): void {
    if (e.closed) return;
    e.closed = true;
    this.entries.delete(peerKey(e.peer.local, e.peer.address, e.peer.port));
    if (report) this.c.report(e.peer, e.gen, { ok: false, reason });
    const local = this.c.locals()[e.peer.local];
    if (now || !e.connected || !local) {
      // not connected yet: the socket never had the peer's datagrams to itself; what it got was bounced as it came
      closeQuietly(e.sock);
      return;
    }
    this.draining.add(e);
    e.deadline = this.c.clock.setTimeout(() => this.finish(e), this.init.drainMs);
    const marker = dgram.createSocket(net.isIPv6(local.address) ? 'udp6' : 'udp4');
    e.marker = marker;
    marker.on('error', () => this.finish(e));
    marker.bind(0, local.address, () => {
      if (!this.draining.has(e)) return;
      const m = marker.address();
      e.markerPort = m.port;
      e.markerAddress = m.address;
      try {
        // between disconnect() and connect() the socket is unconnected again: what it gets then is bounced too
        e.sock.disconnect();
        e.sock.connect(e.markerPort, local.address, () => {
          if (this.draining.has(e)) marker.send(MARKER, local.port, local.address);
        });
      } catch {
        this.finish(e);
      }
    });
  }

  /** The drain is over (marker arrived, deadline, error, exit): close the socket and its marker. */
  private finish(e: Entry): void {
    if (!this.draining.delete(e)) return;
    if (e.deadline) this.c.clock.clearTimeout(e.deadline);
    closeQuietly(e.sock);
    if (e.marker) closeQuietly(e.marker);
  }
}

function closeQuietly(sock: dgram.Socket): void {
  try {
    sock.close();
  } catch {
    // already closed by an error
  }
}
