/**
 * Kernel steering, the worker's side: one UDP socket per delegated peer, bound to the service address (SO_REUSEADDR,
 * like the primary's service socket) and connected to the peer. The kernel then gives this socket the peer's
 * datagrams instead of the primary's unconnected service socket. Every datagram is checked ({@link steeredVerdict});
 * what this worker must not handle alone goes back to the primary as a bounce frame, never dropped, including what
 * lands here in the window between bind() and connect() (then the socket is the newest unconnected one on the port
 * and may get ANY peer's datagram) and what was queued from another peer before connect().
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { extractSipKeys } from '@switchyard/affinity';
import type { Clock, Logger, TimerHandle } from '@switchyard/core';
import type { LocalAddress } from '../ipc.js';
import { peerKey, STEERING_DEFAULTS, type SteeredPeer, type SteeringEnd } from './steering-table.js';
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
}

interface Entry {
  peer: SteeredPeer;
  gen: number;
  sock: dgram.Socket;
  connected: boolean;
  closed: boolean;
  lastUsed: number;
}

export class SteeredSockets {
  private readonly entries = new Map<string, Entry>();
  private sweep: TimerHandle | undefined;
  readonly counters = { local: 0, bounced: 0, undelegated: 0 };

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

  /** Whether a connected socket for this peer is up. */
  connected(peer: SteeredPeer): boolean {
    return this.entries.get(peerKey(peer.local, peer.address, peer.port))?.connected ?? false;
  }

  /** The primary delegates a peer: bind to its service address, connect to the peer. */
  steer(peer: SteeredPeer, gen: number): void {
    const key = peerKey(peer.local, peer.address, peer.port);
    const local = this.c.locals()[peer.local];
    if (this.entries.has(key) || !local || this.entries.size >= this.init.maxSockets) {
      this.c.report(peer, gen, { ok: false, reason: 'refused' });
      return;
    }
    const sock = dgram.createSocket({ type: net.isIPv6(local.address) ? 'udp6' : 'udp4', reuseAddr: true });
    const e: Entry = { peer, gen, sock, connected: false, closed: false, lastUsed: this.c.clock.now() };
    this.entries.set(key, e);
    sock.on('message', (msg, rinfo) => this.onMessage(e, msg, rinfo.address, rinfo.port));
    sock.on('error', (err) => {
      this.c.logger.warn({ err, peer: `${peer.address}:${peer.port}` }, 'steered socket failed');
      this.close(e, 'refused', true);
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

  /** Closes every connected socket (drain, exit); the peers' datagrams go to the primary again. */
  closeAll(reason: SteeringEnd): void {
    for (const e of [...this.entries.values()]) this.close(e, reason, true);
  }

  private onMessage(e: Entry, msg: Buffer, address: string, port: number): void {
    const from: SteeredPeer = { local: e.peer.local, address, port };
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

  private close(e: Entry, reason: SteeringEnd, report: boolean): void {
    if (e.closed) return;
    e.closed = true;
    this.entries.delete(peerKey(e.peer.local, e.peer.address, e.peer.port));
    try {
      e.sock.close();
    } catch {
      // already closed by an error
    }
    if (report) this.c.report(e.peer, e.gen, { ok: false, reason });
  }
}
