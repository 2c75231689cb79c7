/**
 * Kernel steering, the primary's side (a pure core: events in, actions out; no sockets, no clock).
 *
 * A peer (source address:port on one service address) whose datagrams the primary has routed, N times in a row, to
 * one worker that holds the peer's conference is delegated to that worker: the worker opens a UDP socket bound to
 * the service address and connected to the peer, and from then on the kernel hands it the peer's datagrams
 * directly (an exact 4-tuple match outranks the unconnected service socket). The worker checks every datagram it
 * gets that way and bounces to the primary what it must not handle alone (see `steered-verdict.ts`). See
 * docs/host-dispatcher.md "Kernel steering".
 */

export const STEERING_DEFAULTS = {
  /**
   * Consecutive datagrams of one peer routed to the same worker (the last one of a conference that worker holds)
   * before the peer is delegated. Small enough that a call's INVITE, its responses' ACK and a few in-dialog
   * requests delegate a busy peer within its first call; large enough that a peer spread over workers (a proxy
   * carrying many conferences) keeps resetting and is never delegated.
   */
  delegateAfter: 8,
  /**
   * Connected sockets per worker at most (delegated and pending): each is one file descriptor and one libuv handle
   * in the worker. Peers past it stay with the primary (served as before, only not steered).
   */
  maxPerWorker: 256,
  /** A delegated peer silent this long (ms) has its connected socket closed by the worker (back to the primary). */
  idleMs: 60_000,
  /** How often (ms) the worker looks for idle connected sockets. */
  idleSweepMs: 5_000,
  /** Peers being counted at most (the oldest counting one is forgotten first): bounded memory under a scan. */
  maxTracked: 65_536,
  /**
   * A closing connected socket waits at most this long (ms) for its marker datagram (the end of its queue) before it
   * is closed anyway. The marker crosses loopback in microseconds; only a full receive buffer (the marker dropped)
   * makes the wait last this long, and then what is queued is still bounced while it lasts.
   */
  drainMs: 1_000,
} as const;

/** For tests: delegate after a few datagrams, short idle timeout (driven by a ManualClock). */
export const STEERING_TEST_PROFILE = {
  ...STEERING_DEFAULTS,
  delegateAfter: 3,
  maxPerWorker: 4,
  idleMs: 1_000,
  idleSweepMs: 250,
  maxTracked: 64,
} as const;

/** See {@link STEERING_DEFAULTS}. */
export interface SteeringInit {
  delegateAfter: number;
  maxPerWorker: number;
  idleMs: number;
  idleSweepMs: number;
  maxTracked: number;
  drainMs: number;
}

/** A peer as the primary and the worker name it: the service address index, the peer's address and port. */
export interface SteeredPeer {
  local: number;
  address: string;
  port: number;
}

export function peerKey(local: number, address: string, port: number): string {
  return `${local}|${address}|${port}`;
}

/** A dotted-quad IPv4 address as its 32-bit number, or -1 (scanned by char code: no allocation). */
export function ipv4Number(a: string): number {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < a.length; i++) {
    const c = a.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || part > 255 || ++dots > 3) return -1;
      n = n * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (++digits > 3) return -1;
      part = part * 10 + (c - 48);
    } else return -1;
  }
  if (dots !== 3 || digits === 0 || part > 255) return -1;
  return n * 256 + part;
}

/** Why a delegation ended (the worker's reasons and the primary's). */
export type SteeringEnd =
  /** The worker got a datagram it must not handle alone (another conference, a stray, garbage): bounced, closed. */
  | 'bounced'
  /** The peer was silent for `idleMs`. */
  | 'idle'
  /** The worker was at its cap, or the bind/connect failed. */
  | 'refused'
  /** The primary took it back (the worker drains, the POP data plane became active, steering switched off). */
  | 'revoked'
  /** The worker exited: its sockets closed with it; the kernel gives the peer's datagrams to the primary again. */
  | 'worker-gone';

export type SteeringAction =
  | { type: 'steer'; worker: string; peer: SteeredPeer; gen: number }
  | { type: 'unsteer'; worker: string; peer: SteeredPeer; gen: number };

export interface SteeringView {
  /** Whether steering may delegate now (false while the POP data plane is active). */
  allowed(): boolean;
  /**
   * Whether peers of service address `local` may be delegated: not for a wildcard address (0.0.0.0, ::), where a
   * connected socket would take the route's source address as its own and miss the peer's datagrams to any other).
   */
  steerable(local: number): boolean;
  /** Whether the worker takes new work (ready, not draining). */
  workerReady(worker: string): boolean;
  /** Which worker holds a conference per the workers' dialog reports. */
  conferenceHost(conf: string): string | undefined;
}

/**
 * Tracks by peer, found per datagram without allocating: an IPv4 peer by two small integers (its address as an
 * int32, then service address index · 2^16 + port: both V8 small integers, where one 48-bit key would be a heap
 * number allocated per lookup), anything else (IPv6, more than 32 service addresses) by the string {@link peerKey}.
 * Iterates in insertion order (oldest first).
 */
class PeerIndex<T extends { peer: SteeredPeer }> {
  private readonly v4 = new Map<number, Map<number, T>>();
  private readonly other = new Map<string, T>();
  private readonly order = new Set<T>();

  get size(): number {
    return this.order.size;
  }

  get(local: number, address: string, port: number): T | undefined {
    const ip = ipv4Number(address);
    if (ip < 0 || local < 0 || local >= 32) return this.other.get(peerKey(local, address, port));
    return this.v4.get(ip | 0)?.get(local * 0x1_0000 + port);
  }

  add(t: T): void {
    const { local, address, port } = t.peer;
    const ip = ipv4Number(address);
    if (ip < 0 || local < 0 || local >= 32) this.other.set(peerKey(local, address, port), t);
    else {
      let inner = this.v4.get(ip | 0);
      if (!inner) this.v4.set(ip | 0, (inner = new Map()));
      inner.set(local * 0x1_0000 + port, t);
    }
    this.order.add(t);
  }

  delete(t: T): void {
    const { local, address, port } = t.peer;
    const ip = ipv4Number(address);
    if (ip < 0 || local < 0 || local >= 32) this.other.delete(peerKey(local, address, port));
    else {
      const inner = this.v4.get(ip | 0);
      inner?.delete(local * 0x1_0000 + port);
      if (inner?.size === 0) this.v4.delete(ip | 0);
    }
    this.order.delete(t);
  }

  /** Oldest first; deleting the current entry while iterating is fine (a Set's iteration skips deleted ones). */
  values(): IterableIterator<T> {
    return this.order.values();
  }
}

interface Track {
  worker: string;
  /** Consecutive datagrams routed to `worker` (counting only). */
  n: number;
  state: 'counting' | 'pending' | 'active';
  /** Delegation generation: a late report of an older delegation of the same peer is ignored. */
  gen: number;
  peer: SteeredPeer;
}

export interface SteeringCounts {
  /** Delegations asked of workers, confirmed, and ended by reason. */
  asked: number;
  delegated: number;
  ended: Record<SteeringEnd, number>;
}

export class SteeringTable {
  private readonly tracks = new PeerIndex<Track>();
  private readonly perWorker = new Map<string, number>();
  private nextGen = 1;
  readonly counts: SteeringCounts = {
    asked: 0,
    delegated: 0,
    ended: { bounced: 0, idle: 0, refused: 0, revoked: 0, 'worker-gone': 0 },
  };

  constructor(
    private readonly view: SteeringView,
    private readonly init: SteeringInit = STEERING_DEFAULTS,
  ) {}

  /** Delegations asked or confirmed (each one connected socket in a worker, or about to be). */
  get active(): number {
    let n = 0;
    for (const v of this.perWorker.values()) n += v;
    return n;
  }

  /** Delegations of one worker (asked or confirmed). */
  of(worker: string): number {
    return this.perWorker.get(worker) ?? 0;
  }

  /** The delegation state of a peer, if any (tests and the control API). */
  stateOf(local: number, address: string, port: number): Track['state'] | undefined {
    return this.tracks.get(local, address, port)?.state;
  }

  /**
   * The primary routed one datagram of this peer (arrived on the service socket, not injected) to `worker`; `conf`
   * is its conference key. Returns the steer action when the peer is now delegated. Called per datagram: allocates
   * nothing for a peer it already counts (numeric key for IPv4, no array: at most one action).
   */
  routed(
    worker: string,
    local: number,
    address: string,
    port: number,
    conf: string | undefined,
  ): SteeringAction | undefined {
    let t = this.tracks.get(local, address, port);
    if (!t) {
      if (this.tracks.size >= this.init.maxTracked) this.forgetOldestCounting();
      t = { worker, n: 0, state: 'counting', gen: 0, peer: { local, address, port } };
      this.tracks.add(t);
    }
    // a delegated peer's datagram still reaching the primary: the window before connect(), or a bounce (the worker
    // reports the end itself); nothing to count
    if (t.state !== 'counting') return undefined;
    if (t.worker !== worker) {
      t.worker = worker;
      t.n = 0;
    }
    t.n++;
    if (t.n < this.init.delegateAfter) return undefined;
    if (conf === undefined || this.view.conferenceHost(conf) !== worker) return undefined;
    if (!this.view.allowed() || !this.view.steerable(local) || !this.view.workerReady(worker))
      return undefined;
    if (this.of(worker) >= this.init.maxPerWorker) return undefined;
    t.state = 'pending';
    t.gen = this.nextGen++;
    this.add(worker, 1);
    this.counts.asked++;
    return { type: 'steer', worker, peer: t.peer, gen: t.gen };
  }

  /** The worker's connected socket is up. */
  confirmed(worker: string, peer: SteeredPeer, gen: number): void {
    const t = this.tracks.get(peer.local, peer.address, peer.port);
    if (!t || t.gen !== gen || t.worker !== worker || t.state !== 'pending') return;
    t.state = 'active';
    this.counts.delegated++;
  }

  /**
   * The worker closed the peer's connected socket (`gen` undefined: a bounce frame, which ends whatever delegation
   * the peer has with that worker). Counting starts afresh.
   */
  ended(worker: string, peer: SteeredPeer, reason: SteeringEnd, gen?: number): void {
    const t = this.tracks.get(peer.local, peer.address, peer.port);
    if (!t || t.state === 'counting' || t.worker !== worker) return;
    if (gen !== undefined && t.gen !== gen) return;
    this.drop(t, reason);
  }

  /** Takes back every delegation of a worker (it drains or stops). */
  revokeWorker(worker: string): SteeringAction[] {
    return this.revokeWhere((t) => t.worker === worker);
  }

  /** Takes back every delegation (the POP data plane became active, or steering was switched off). */
  revokeAll(): SteeringAction[] {
    return this.revokeWhere(() => true);
  }

  /** Re-checks the conditions after a change outside (POP table): revokes all when steering is no longer allowed. */
  revalidate(): SteeringAction[] {
    return this.view.allowed() ? [] : this.revokeAll();
  }

  /** The worker exited: its sockets are gone, nothing to tell it. */
  workerGone(worker: string): void {
    for (const t of this.tracks.values()) {
      if (t.worker !== worker) continue;
      if (t.state === 'counting') this.tracks.delete(t);
      else this.drop(t, 'worker-gone');
    }
  }

  private revokeWhere(pred: (t: Track) => boolean): SteeringAction[] {
    const out: SteeringAction[] = [];
    for (const t of this.tracks.values()) {
      if (t.state === 'counting' || !pred(t)) continue;
      out.push({ type: 'unsteer', worker: t.worker, peer: t.peer, gen: t.gen });
      this.drop(t, 'revoked');
    }
    return out;
  }

  private drop(t: Track, reason: SteeringEnd): void {
    this.tracks.delete(t);
    this.add(t.worker, -1);
    this.counts.ended[reason]++;
  }

  private add(worker: string, d: number): void {
    const n = (this.perWorker.get(worker) ?? 0) + d;
    if (n > 0) this.perWorker.set(worker, n);
    else this.perWorker.delete(worker);
  }

  private forgetOldestCounting(): void {
    for (const t of this.tracks.values()) {
      if (t.state !== 'counting') continue;
      this.tracks.delete(t);
      return;
    }
  }
}

/** Whether kernel steering can work on a service socket bound to this address: a unicast one, not a wildcard. */
export function isSteerableAddress(address: string | undefined): boolean {
  if (address === undefined || address === '' || address === '0.0.0.0') return false;
  // '::', '::0', '0:0:0:0:0:0:0:0' (an IPv4-mapped wildcard '::ffff:0.0.0.0' too)
  return !/^(?:[0:]*|::ffff:0\.0\.0\.0)$/i.test(address);
}
