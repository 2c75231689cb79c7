/**
 * The POP data plane in the primary (tier 2's forwarding; the pop-router is its control plane). Pure: fed the keys
 * of each datagram and the router's table messages, it decides; the primary's ingress adapter sends.
 *
 * Per datagram, the session key is the conference (Request-URI user part; in-dialog requests carry it too, since
 * the worker's Contact is `sip:<conference>@…`), else the Call-ID:
 * - owned here → the worker, as without a POP (no extra hop);
 * - owned by another live host → encapsulated with that host's template and sent straight to it;
 * - no live owner, and a request that opens a session → claimed here (the router gossips the claim);
 * - a datagram that arrived encapsulated is handled here whatever the table says: one forward at most, never a
 *   bounce (counted as a disagreement when the table names another owner).
 * A draining host claims nothing new: it forwards a new session to a live host chosen by rendezvous hashing.
 *
 * A call's transaction follows its first decision: when a non-owner forwards a call's opening request, the Call-ID is
 * remembered with the host it went to (for an INVITE transaction's lifetime), and the call's later datagrams without
 * a To tag (retransmissions, CANCEL) go to that host whatever the table says by then. Without this, a retransmitted
 * INVITE that lands here after the table changed (the session released by its owner, or claimed elsewhere) was
 * claimed here: a second dialog on a second host, whose 100 Trying reached the caller after the first host's 200
 * (what failed the SIPp call-rate runs, docs/benchmarks/pop-router-calls.md).
 */
import type { SipKeys } from '@switchyard/affinity';
import { rendezvousOwner } from '@switchyard/affinity';
import {
  encapsulateVxlan,
  OwnerTokenTable,
  TunnelSealer,
  tunnelKeysFromWire,
  type DispatcherToRouter,
  type Encapsulation,
  type LinkHost,
  type RouterToDispatcher,
} from '@switchyard/pop-wire';

/** A destination host as the data plane keeps it: the template decoded once. */
export interface PopHost {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly template: Buffer;
  readonly alive: boolean;
}

export type PopDecision = { kind: 'local' } | { kind: 'forward'; host: PopHost };

export interface PopCounters {
  forwarded: number;
  claimed: number;
  /** Arrived encapsulated although our table names another live owner (tables disagreed; handled here). */
  disagreements: number;
  /** Could not encapsulate (IPv6 client in vxlan mode, too large): handled here instead. */
  encapFailed: number;
  /** Table messages that failed to apply (bad keys). */
  badTable: number;
  /** In-dialog requests routed by the owner token of their Request-URI (C9), before any table lookup. */
  tokenRouted: number;
  /** Owner tokens refused: bad MAC, unknown key or host (forged): the table decides instead. */
  tokenRefused: number;
  /** Valid owner tokens naming a host that is not alive (stale): the table decides instead. */
  tokenStale: number;
  /** Responses routed by the owner token of their top Via (C14) to the host whose worker sent the request. */
  responseRouted: number;
  /** Responses whose top Via token was forged: the table decides, as without a token (usually: a stray, dropped). */
  responseRefused: number;
  /** Responses whose top Via token names a host that is not alive: the table decides, as without a token. */
  responseStale: number;
  /** Datagrams of a forwarded call's transaction (retransmission, CANCEL) sent where its opening request went. */
  followed: number;
}

/** Methods that create or join a session (as in the affinity router). */
const OPENING = new Set(['INVITE', 'SUBSCRIBE', 'REFER', 'MESSAGE']);
/** Longest session id the gossip wire carries. */
const MAX_SESSION = 128;
const LOCAL: PopDecision = { kind: 'local' };

/** The defaults of {@link PopDataPlaneInit}, one comment per value. */
export const POP_DATA_PLANE_DEFAULTS = {
  /**
   * How long a forwarded call's later datagrams follow its opening request (ms): 64·T1 = 32 s, RFC 3261 Timer B, the
   * longest a caller retransmits an INVITE. Entries live between this and twice this (two generations).
   */
  followMs: 32_000,
  /** Forwarded calls remembered per generation at most (bounded memory in a flood); a full generation rotates. */
  followMax: 65_536,
} as const;

/** A short profile for tests: generations of 1 s, 4 entries. */
export const POP_DATA_PLANE_TEST_PROFILE = { followMs: 1_000, followMax: 4 } as const;

export interface PopDataPlaneInit {
  followMs?: number;
  followMax?: number;
}

export class PopDataPlane {
  readonly counters: PopCounters = {
    forwarded: 0,
    claimed: 0,
    disagreements: 0,
    encapFailed: 0,
    badTable: 0,
    tokenRouted: 0,
    tokenRefused: 0,
    tokenStale: 0,
    responseRouted: 0,
    responseRefused: 0,
    responseStale: 0,
    followed: 0,
  };
  /** Verifies owner tokens (C9); undefined until a router sent the owner keys. */
  private tokens: OwnerTokenTable | undefined;
  private self = '';
  private mode: Encapsulation = 'udp';
  private draining = false;
  private sealer: TunnelSealer | undefined;
  private readonly hosts = new Map<string, PopHost>();
  /** Each host's forward decision, made once when the host is set: no object per forwarded datagram. */
  private readonly forwardTo = new Map<string, PopDecision>();
  private readonly owners = new Map<string, string>();
  /** Dialogs per session on our workers: a session is released when its last dialog ends. */
  private readonly dialogs = new Map<string, number>();
  /** Call-IDs of dialogs our workers hold: they stay here even when the session's owner is (now) another host. */
  private readonly localCalls = new Set<string>();
  private outbox: DispatcherToRouter[] = [];
  /**
   * Calls whose opening request we forwarded: Call-ID → host id, in two generations (this one and the one before),
   * rotated every `followMs` or when this one holds `followMax`: no object and no timer per entry.
   */
  private followNew = new Map<string, string>();
  private followOld = new Map<string, string>();
  private followSince = Number.NEGATIVE_INFINITY;
  private readonly followMs: number;
  private readonly followMax: number;

  constructor(
    private readonly components: {
      now: () => number;
      /** Whether this host's affinity router holds a binding for the Call-ID (a transaction or dialog here). */
      boundHere?: (callId: string) => boolean;
    },
    init: PopDataPlaneInit = {},
  ) {
    this.followMs = init.followMs ?? POP_DATA_PLANE_DEFAULTS.followMs;
    this.followMax = init.followMax ?? POP_DATA_PLANE_DEFAULTS.followMax;
  }

  /** True once a router has sent its snapshot; before that every datagram is local (no POP). */
  get active(): boolean {
    return this.self !== '';
  }

  /** The router's encapsulation (from its snapshot). */
  get encapsulation(): Encapsulation {
    return this.mode;
  }

  /** This host's owner token for the workers' Contact (C9); undefined before a router sent the keys. */
  get selfToken(): string | undefined {
    return this.tokens?.selfToken;
  }

  get ownerCount(): number {
    return this.owners.size;
  }

  /** A host of the table (undefined: unknown). */
  host(id: string): PopHost | undefined {
    return this.hosts.get(id);
  }

  ownerOf(session: string): string | undefined {
    return this.owners.get(session);
  }

  apply(m: RouterToDispatcher): void {
    if (m.kind === 'snapshot') {
      this.self = m.self;
      this.mode = m.mode;
      this.draining = m.draining;
      this.hosts.clear();
      this.forwardTo.clear();
      this.owners.clear();
      try {
        this.sealer = m.tunnelKeys
          ? new TunnelSealer(this.components, tunnelKeysFromWire(m.tunnelKeys))
          : undefined;
      } catch {
        this.counters.badTable++;
        this.sealer = undefined;
      }
      try {
        this.tokens = m.ownerKeys ? new OwnerTokenTable(tunnelKeysFromWire(m.ownerKeys), m.self) : undefined;
      } catch {
        this.counters.badTable++;
        this.tokens = undefined;
      }
      for (const h of m.hosts) this.setHost(h);
      this.tokens?.setHosts(this.hosts.keys());
      return;
    }
    if (m.draining !== undefined) this.draining = m.draining;
    for (const h of m.hosts ?? []) this.setHost(h);
    for (const id of m.hostsRemoved ?? []) {
      this.hosts.delete(id);
      this.forwardTo.delete(id);
    }
    if ((m.hosts?.some((h) => !this.tokensKnow(h.id)) ?? false) || m.hostsRemoved?.length)
      this.tokens?.setHosts(this.hosts.keys());
    for (const [s, o] of m.owners ?? []) {
      if (o === null) this.owners.delete(s);
      else this.owners.set(s, o);
    }
  }

  /**
   * Where one datagram goes. May queue a claim in the outbox. `payload`, when given, is scanned for an owner token
   * (in-dialog requests only): a valid one decides before any table lookup.
   */
  decide(keys: SipKeys, encapsulated: boolean, payload?: Uint8Array): PopDecision {
    if (!this.active) return LOCAL;
    // a call of ours stays ours (retransmissions, ACK, BYE): after a lost conflict only new calls follow the winner
    if (this.localCalls.has(keys.callId) || this.components.boundHere?.(keys.callId)) return LOCAL;
    // a transaction we forwarded goes on where it went (its retransmissions, CANCEL), whatever the table says now
    if (!encapsulated && keys.toTag === undefined && (this.followNew.size || this.followOld.size)) {
      const followed = this.followed(keys.callId);
      if (followed) return followed;
    }
    if (payload && !encapsulated && keys.isRequest && keys.toTag !== undefined) {
      const byToken = this.byToken(payload);
      if (byToken) return byToken;
    }
    if (payload && !encapsulated && !keys.isRequest) {
      const byVia = this.responseByVia(payload);
      if (byVia) return byVia;
    }
    const key = keys.conferenceId ?? keys.callId;
    const owner = this.owners.get(key);
    if (owner === this.self) return LOCAL;
    if (owner !== undefined) {
      const h = this.hosts.get(owner);
      if (h?.alive) {
        if (!encapsulated) return this.forwardNew(keys, h);
        this.counters.disagreements++;
        return LOCAL;
      }
    }
    // no live owner
    const opens = keys.isRequest && keys.toTag === undefined && OPENING.has(keys.method ?? '');
    if (!opens || key.length > MAX_SESSION) return LOCAL;
    if (this.draining && !encapsulated) {
      const target = this.pickUndrained(key);
      if (target) return this.forwardNew(keys, target);
      return LOCAL;
    }
    this.owners.set(key, this.self);
    this.counters.claimed++;
    this.outbox.push({ event: 'claim', session: key });
    return LOCAL;
  }

  /**
   * Encapsulates `payload` for `host` into `out` and returns the length, or -1 (IPv6 client in vxlan mode, no key,
   * too large): the caller then handles the datagram locally.
   */
  encapsulate(
    out: Buffer,
    host: PopHost,
    local: number,
    address: string,
    port: number,
    payload: Uint8Array,
  ): number {
    const n =
      this.mode === 'vxlan'
        ? encapsulateVxlan(out, host.template, address, port, payload)
        : (this.sealer?.seal(out, host.template, local, address, port, payload) ?? -1);
    if (n < 0) this.counters.encapFailed++;
    else this.counters.forwarded++;
    return n;
  }

  /** Counts a datagram the adapter encapsulated itself (vxlan headers sent as a buffer list); returns `ok`. */
  encapsulated(ok: boolean): boolean {
    if (ok) this.counters.forwarded++;
    else this.counters.encapFailed++;
    return ok;
  }

  dialogOpened(session: string, callId: string): void {
    this.localCalls.add(callId);
    this.dialogs.set(session, (this.dialogs.get(session) ?? 0) + 1);
  }

  dialogClosed(session: string, callId: string): void {
    this.localCalls.delete(callId);
    const n = (this.dialogs.get(session) ?? 0) - 1;
    if (n > 0) {
      this.dialogs.set(session, n);
      return;
    }
    this.dialogs.delete(session);
    if (this.active && this.owners.get(session) === this.self)
      this.outbox.push({ event: 'release', session });
  }

  /** Sessions with dialogs here (sent to a router that (re)connects, so it re-claims them). */
  held(): string[] {
    return [...this.dialogs.keys()].filter((s) => s.length <= MAX_SESSION);
  }

  /** Messages for the router queued by the decisions since the last call. */
  takeOutbox(): DispatcherToRouter[] {
    if (!this.outbox.length) return this.outbox;
    const out = this.outbox;
    this.outbox = [];
    return out;
  }

  /** Forwards by the table; a call's opening request is remembered so that its transaction follows it. */
  private forwardNew(keys: SipKeys, host: PopHost): PopDecision {
    if (keys.isRequest && keys.toTag === undefined && OPENING.has(keys.method ?? '')) {
      const now = this.components.now();
      if (now - this.followSince >= this.followMs || this.followNew.size >= this.followMax) this.rotate(now);
      this.followNew.set(keys.callId, host.id);
    }
    return this.forward(host);
  }

  private forward(host: PopHost): PopDecision {
    return this.forwardTo.get(host.id) ?? { kind: 'forward', host };
  }

  /** The host a forwarded call's opening request went to, if it is remembered and alive. */
  private followed(callId: string): PopDecision | undefined {
    let id = this.followNew.get(callId) ?? this.followOld.get(callId);
    if (id === undefined) return undefined;
    // a hit (retransmission, CANCEL: rare) pays for the clock; entries older than two generations are gone
    const now = this.components.now();
    if (now - this.followSince >= this.followMs) {
      this.rotate(now);
      id = this.followNew.get(callId) ?? this.followOld.get(callId);
      if (id === undefined) return undefined;
    }
    const h = this.hosts.get(id);
    if (!h?.alive) return undefined;
    this.counters.followed++;
    return this.forward(h);
  }

  /** The older generation is forgotten; both when the newer one is older than a generation too. */
  private rotate(now: number): void {
    const stale = now - this.followSince >= 2 * this.followMs;
    const t = this.followOld;
    t.clear();
    this.followOld = this.followNew;
    this.followNew = t;
    if (stale) this.followOld.clear();
    this.followSince = now;
  }

  /** The owner named by the Request-URI's token, or undefined (no token, forged, stale: the table decides). */
  private byToken(payload: Uint8Array): PopDecision | undefined {
    if (!this.tokens) return undefined;
    const v = this.tokens.scan(payload);
    if (v.kind === 'none') return undefined;
    if (v.kind === 'forged') {
      this.counters.tokenRefused++;
      return undefined;
    }
    if (v.host === this.self) {
      this.counters.tokenRouted++;
      return LOCAL;
    }
    const h = this.hosts.get(v.host);
    if (!h?.alive) {
      this.counters.tokenStale++;
      return undefined;
    }
    this.counters.tokenRouted++;
    return this.forward(h);
  }

  /**
   * A response no worker here holds (C14): its top Via names the host whose worker sent the request (the media
   * mover's re-INVITE), so it goes there; there the Call-ID binding takes it to that worker. Undefined (no token,
   * forged, stale): the table decides, as before tokens (a response never claims a session: unowned, it is handled
   * here, where the affinity router drops it as a stray).
   */
  private responseByVia(payload: Uint8Array): PopDecision | undefined {
    if (!this.tokens) return undefined;
    const v = this.tokens.scanVia(payload);
    if (v.kind === 'none') return undefined;
    if (v.kind === 'forged') {
      this.counters.responseRefused++;
      return undefined;
    }
    if (v.host === this.self) return LOCAL;
    const h = this.hosts.get(v.host);
    if (!h?.alive) {
      this.counters.responseStale++;
      return undefined;
    }
    this.counters.responseRouted++;
    return this.forward(h);
  }

  private tokensKnow(host: string): boolean {
    return this.tokens === undefined || this.tokens.knows(host);
  }

  private setHost(h: LinkHost): void {
    const host: PopHost = {
      id: h.id,
      address: h.address,
      port: h.port,
      template: Buffer.from(h.template, 'base64'),
      alive: h.alive,
    };
    this.hosts.set(h.id, host);
    this.forwardTo.set(h.id, { kind: 'forward', host });
  }

  private pickUndrained(key: string): PopHost | undefined {
    const live: string[] = [];
    for (const h of this.hosts.values()) if (h.alive && h.id !== this.self) live.push(h.id);
    if (!live.length) return undefined;
    return this.hosts.get(rendezvousOwner(key, live)!);
  }
}
