/**
 * Kernel forward delegation, the primary's side (a pure core like the steering table: events in, actions out; the
 * clock is passed in). A client (IPv4 address, port, service port) whose datagrams this primary has forwarded
 * `delegateAfter` times in a row to one live owner host is delegated to the kernel: the adapter writes an entry in
 * the router's BPF forward table, and from then on the tc program on the external interface encapsulates the
 * client's datagrams to that owner itself (no user-space hop). See docs/pop-router.md "Kernel forward".
 *
 * An entry is removed when its owner host leaves or dies, when a session it was delegated for moves to another
 * owner (router delta), when it was idle (no hit) for `idleMs`, when the router's snapshot starts afresh, or when the
 * adapter fails to write it. Entries are capped (`maxEntries`); clients past it stay on the user-space path.
 *
 * A client carrying several sessions from one address:port whose owners differ never has a run of `delegateAfter`
 * datagrams to one owner while it alternates, so it is not delegated; if it is delegated and later sends for a
 * session of another host, that datagram reaches the delegated owner, which handles it there (it arrived
 * encapsulated: one forward at most, never a loop; counted on that host as a disagreement).
 */

/** The defaults of {@link KernelForwardInit}, one comment per value. */
export const KERNEL_FORWARD_DEFAULTS = {
  /**
   * Consecutive datagrams of one client forwarded to the same owner before it is delegated: a call's INVITE, ACK
   * and a few in-dialog requests delegate a busy client within its first call; a client alternating between owners
   * keeps resetting (as the steering table's 8).
   */
  delegateAfter: 8,
  /** Entries at most (the BPF map holds 65,536): each costs kernel memory; past it clients stay in user space. */
  maxEntries: 16_384,
  /** A delegated client without a hit for this long (ms) is removed (back to the primary's path). */
  idleMs: 60_000,
  /** How often (ms) the adapter reads the entries' last-hit times and removes idle ones. */
  idleSweepMs: 5_000,
  /** Clients being counted at most (a flood of sources cannot grow memory without bound). */
  maxTracked: 65_536,
} as const;

/** For tests (driven by a manual clock): delegate after 3, small caps, 1 s idle. */
export const KERNEL_FORWARD_TEST_PROFILE = {
  delegateAfter: 3,
  maxEntries: 2,
  idleMs: 1_000,
  idleSweepMs: 250,
  maxTracked: 8,
} as const;

export interface KernelForwardInit {
  delegateAfter: number;
  maxEntries: number;
  idleMs: number;
  idleSweepMs: number;
  maxTracked: number;
}

/** A client as the BPF key names it. */
export interface ForwardClient {
  address: string;
  port: number;
  servicePort: number;
}

export function clientKey(address: string, port: number, servicePort: number): string {
  return `${address}|${port}|${servicePort}`;
}

/** Why an entry was removed. */
export type KernelForwardEnd = 'owner-gone' | 'session-moved' | 'idle' | 'reset' | 'failed';

export type KernelForwardAction =
  | { type: 'install'; key: string; client: ForwardClient; owner: string }
  | { type: 'remove'; key: string; client: ForwardClient; owner: string; reason: KernelForwardEnd };

interface Counting {
  owner: string;
  n: number;
}

interface Entry {
  client: ForwardClient;
  owner: string;
  /** Sessions this client was forwarded for while counting (one, usually): a move of any of them ends the entry. */
  sessions: Set<string>;
  lastHit: number;
}

export interface KernelForwardCounters {
  installed: number;
  removed: Record<KernelForwardEnd, number>;
  /** Clients that reached `delegateAfter` while the table was full. */
  refusedFull: number;
}

export class KernelForwardTable {
  readonly counters: KernelForwardCounters = {
    installed: 0,
    removed: { 'owner-gone': 0, 'session-moved': 0, idle: 0, reset: 0, failed: 0 },
    refusedFull: 0,
  };
  private readonly counting = new Map<string, Counting>();
  /** Sessions seen while counting a client (reset with the count). */
  private readonly countingSessions = new Map<string, Set<string>>();
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly init: KernelForwardInit = KERNEL_FORWARD_DEFAULTS) {}

  get size(): number {
    return this.entries.size;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  ownerOf(key: string): string | undefined {
    return this.entries.get(key)?.owner;
  }

  /** The primary forwarded one datagram of `client` (for `session`) to `owner`. */
  forwarded(client: ForwardClient, owner: string, session: string, now: number): KernelForwardAction[] {
    const key = clientKey(client.address, client.port, client.servicePort);
    const e = this.entries.get(key);
    if (e) {
      // the kernel entry is being written (or the program passed this one up): nothing to count
      e.sessions.add(session);
      return [];
    }
    let c = this.counting.get(key);
    if (!c || c.owner !== owner) {
      if (!c && this.counting.size >= this.init.maxTracked) {
        const oldest = this.counting.keys().next().value as string;
        this.counting.delete(oldest);
        this.countingSessions.delete(oldest);
      }
      c = { owner, n: 0 };
      this.counting.set(key, c);
      this.countingSessions.set(key, new Set());
    }
    c.n++;
    this.countingSessions.get(key)!.add(session);
    if (c.n < this.init.delegateAfter) return [];
    const sessions = this.countingSessions.get(key)!;
    this.counting.delete(key);
    this.countingSessions.delete(key);
    if (this.entries.size >= this.init.maxEntries) {
      this.counters.refusedFull++;
      return [];
    }
    this.entries.set(key, { client, owner, sessions, lastHit: now });
    this.counters.installed++;
    return [{ type: 'install', key, client, owner }];
  }

  /** A datagram of this client was handled here (not forwarded): its run towards one owner is broken. */
  handledHere(key: string): void {
    if (this.counting.delete(key)) this.countingSessions.delete(key);
  }

  /** The router's delta: `session` is now owned by `owner` (null: nobody). Entries delegated for it elsewhere go. */
  ownerChanged(session: string, owner: string | null): KernelForwardAction[] {
    const out: KernelForwardAction[] = [];
    for (const [key, e] of this.entries)
      if (e.owner !== owner && e.sessions.has(session)) out.push(this.remove(key, e, 'session-moved'));
    return out;
  }

  /** A host left, died or was removed from the table: every entry to it goes. */
  hostGone(host: string): KernelForwardAction[] {
    const out: KernelForwardAction[] = [];
    for (const [key, e] of this.entries) if (e.owner === host) out.push(this.remove(key, e, 'owner-gone'));
    for (const [key, c] of this.counting)
      if (c.owner === host) {
        this.counting.delete(key);
        this.countingSessions.delete(key);
      }
    return out;
  }

  /** The adapter saw the kernel use this entry (its last-hit time changed). */
  hit(key: string, now: number): void {
    const e = this.entries.get(key);
    if (e) e.lastHit = now;
  }

  /** Removes the entries idle for `idleMs`. */
  sweep(now: number): KernelForwardAction[] {
    const out: KernelForwardAction[] = [];
    for (const [key, e] of this.entries)
      if (now - e.lastHit >= this.init.idleMs) out.push(this.remove(key, e, 'idle'));
    return out;
  }

  /** The adapter could not write the entry: forget it (the client stays on the user-space path). */
  failed(key: string): void {
    const e = this.entries.get(key);
    if (e) {
      this.entries.delete(key);
      this.counters.removed.failed++;
    }
  }

  /** Everything goes (a new router snapshot, the dispatcher stops). */
  reset(): KernelForwardAction[] {
    const out: KernelForwardAction[] = [];
    for (const [key, e] of this.entries) out.push(this.remove(key, e, 'reset'));
    this.counting.clear();
    this.countingSessions.clear();
    return out;
  }

  private remove(key: string, e: Entry, reason: KernelForwardEnd): KernelForwardAction {
    this.entries.delete(key);
    this.counters.removed[reason]++;
    return { type: 'remove', key, client: e.client, owner: e.owner, reason };
  }
}
