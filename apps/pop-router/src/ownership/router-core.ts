/**
 * The pop-router's decisions, with no sockets: gossip events in → table updates for the dispatcher out; the
 * dispatcher's claims, releases and `held` lists in → gossip commands out. The {@link PopRouter} adapter feeds it and
 * carries out what it returns.
 */
import type { GossipEvent, MemberStatus, MemberView, OwnerEntry } from '@switchyard/gossip';
import {
  ownerDeltas,
  type DispatcherToRouter,
  type Encapsulation,
  type RouterToDispatcher,
  type TunnelKeysWire,
} from '@switchyard/pop-wire';
import type { HostTable } from '../hosts/host-table.js';

export interface OwnershipReader {
  /** The open entry of a session and its owner's status here; undefined for unknown or closed. */
  /** `epoch` > 0: the claim came from a scheduler's assignment (the data plane claims at epoch 0). */
  owner(
    session: string,
  ): { owner: string; ownerStatus: MemberStatus | 'unknown'; epoch?: number } | undefined;
}

export type RouterCommand =
  | { type: 'claim'; session: string }
  | { type: 'close'; session: string }
  | { type: 'send'; msg: RouterToDispatcher };

export interface RouterCounters {
  /** Claims from the data plane for a session another live host owns (the dispatcher is told the owner). */
  claimsRedirected: number;
  /** Claims refused because this host is draining. */
  claimsRefusedDraining: number;
  /** Sessions this host lost to another owner (conflict or re-assignment) while it still held dialogs. */
  lostWithDialogs: number;
  /** `held` sessions owned by another live host (tables disagreed; the other owner keeps them). */
  heldElsewhere: number;
  /** Data-plane releases not carried out: the session was assigned here by a scheduler (epoch > 0). */
  keptAssigned: number;
  /** Sessions whose release was deferred by the linger (their last dialog ended; kept claimed for a while). */
  lingered: number;
  /** Lingering sessions that got a new dialog before the linger ran out (kept, no release/re-claim churn). */
  lingerReused: number;
  /** Lingering sessions released when their linger ran out (or at once when the host started draining). */
  lingerReleased: number;
}

/** The defaults of {@link RouterCoreInit}, one comment per value. */
export const ROUTER_CORE_DEFAULTS = {
  /**
   * How long a session stays claimed here after its last dialog ended (ms): 64·T1 = 32 s, RFC 3261 Timer B/F, the
   * longest a caller retransmits a request of the call that just ended, and long enough that participants of one
   * conference arriving seconds apart find it owned instead of released and re-claimed (a re-claim races with a
   * retransmission that lands on another host, which then claims it too: a second dialog on a second host).
   * 0: released at once (before the linger existed).
   */
  releaseLingerMs: 32_000,
} as const;

const live = (s: MemberStatus | 'unknown') => s === 'alive' || s === 'suspect';

/**
 * A host's drain state travels as an ownership entry: while draining, the host owns `drainMarker(id)`. The control
 * character keeps it apart from every SIP key (a Call-ID or a URI user part cannot hold one unescaped); it never
 * reaches the dispatcher nor the session lists.
 */
export const DRAIN_MARKER_PREFIX = '\u0001drain:';
export const drainMarker = (host: string): string => `${DRAIN_MARKER_PREFIX}${host}`;
export const isDrainMarker = (session: string): boolean => session.startsWith(DRAIN_MARKER_PREFIX);

export interface RouterCoreInit {
  self: string;
  mode: Encapsulation;
  /** See {@link ROUTER_CORE_DEFAULTS}. */
  releaseLingerMs?: number;
}

export class RouterCore {
  readonly counters: RouterCounters = {
    claimsRedirected: 0,
    claimsRefusedDraining: 0,
    lostWithDialogs: 0,
    heldElsewhere: 0,
    keptAssigned: 0,
    lingered: 0,
    lingerReused: 0,
    lingerReleased: 0,
  };
  /** Dialogs per session on this host's workers, from the dispatcher's reports. */
  readonly localDialogs = new Map<string, number>();
  /** Sessions whose last dialog ended here → when they are released (unless a dialog opens again first). */
  private readonly lingering = new Map<string, number>();
  private draining = false;
  private readonly lingerMs: number;

  constructor(
    private readonly components: { ownership: OwnershipReader; hosts: HostTable; now: () => number },
    private readonly init: RouterCoreInit,
  ) {
    this.lingerMs = init.releaseLingerMs ?? ROUTER_CORE_DEFAULTS.releaseLingerMs;
  }

  /** Sessions waiting out their linger. */
  get lingeringCount(): number {
    return this.lingering.size;
  }

  /**
   * Releases the sessions whose linger ran out and that are still ours, assigned by no scheduler and without dialogs
   * here. The adapter calls it periodically; the clock is injected, so tests step it.
   */
  tick(): RouterCommand[] {
    if (!this.lingering.size) return [];
    const now = this.components.now();
    const out: RouterCommand[] = [];
    for (const [session, due] of this.lingering) {
      if (due > now) continue;
      this.lingering.delete(session);
      const c = this.releaseNow(session);
      if (c) out.push(c);
    }
    return out;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** What a freshly connected dispatcher gets: hosts and keys, then the open owners in chunks. */
  snapshot(
    members: MemberView[],
    entries: OwnerEntry[],
    tunnelKeys?: TunnelKeysWire,
    ownerKeys?: TunnelKeysWire,
  ): RouterToDispatcher[] {
    for (const m of members) this.components.hosts.upsert(m);
    const status = new Map(members.map((m) => [m.id, m.status]));
    const owners: Array<[string, string]> = [];
    for (const e of entries)
      if (!e.closed && !isDrainMarker(e.session) && live(status.get(e.owner) ?? 'unknown'))
        owners.push([e.session, e.owner]);
    return [
      {
        kind: 'snapshot',
        self: this.init.self,
        mode: this.init.mode,
        draining: this.draining,
        ...(tunnelKeys ? { tunnelKeys } : {}),
        ...(ownerKeys ? { ownerKeys } : {}),
        hosts: this.components.hosts.links(),
      },
      ...ownerDeltas(owners),
    ];
  }

  setDraining(draining: boolean): RouterToDispatcher[] {
    if (this.draining === draining) return [];
    this.draining = draining;
    return [{ kind: 'delta', draining }];
  }

  /**
   * A host that starts draining releases its lingering sessions at once: a conference kept here would take its next
   * participants here (the data plane sends an owned session's new calls to its owner), and a draining host takes
   * nothing new. The adapter calls this with {@link setDraining}(true).
   */
  releaseLingering(): RouterCommand[] {
    const out: RouterCommand[] = [];
    for (const session of this.lingering.keys()) {
      const c = this.releaseNow(session);
      if (c) out.push(c);
    }
    this.lingering.clear();
    return out;
  }

  onGossip(e: GossipEvent): RouterToDispatcher[] {
    switch (e.type) {
      case 'member-joined':
      case 'member-alive':
      case 'member-suspect':
      case 'member-dead':
      case 'member-left': {
        const link = this.components.hosts.upsert(e.member);
        return link ? [{ kind: 'delta', hosts: [link] }] : [];
      }
      case 'owner-changed': {
        if (isDrainMarker(e.session)) return [];
        // another host took it (or it closed, or a scheduler assigned it): nothing of ours lingers any more
        if (e.entry.owner !== this.init.self || e.entry.closed || e.entry.epoch > 0)
          this.lingering.delete(e.session);
        if (
          e.previous?.owner === this.init.self &&
          e.entry.owner !== this.init.self &&
          (this.localDialogs.get(e.session) ?? 0) > 0
        )
          this.counters.lostWithDialogs++;
        return [{ kind: 'delta', owners: [[e.session, e.entry.closed ? null : e.entry.owner]] }];
      }
      case 'session-closed':
        this.lingering.delete(e.session);
        return isDrainMarker(e.session) ? [] : [{ kind: 'delta', owners: [[e.session, null]] }];
      case 'sessions-orphaned': {
        const lost = e.sessions.filter((s) => !isDrainMarker(s));
        return lost.length ? ownerDeltas(lost.map((s): [string, null] => [s, null])) : [];
      }
      case 'self-refuted':
        return [];
    }
  }

  onDispatcher(m: DispatcherToRouter): RouterCommand[] {
    switch (m.event) {
      case 'claim':
        return this.claim(m.session);
      case 'release': {
        const o = this.components.ownership.owner(m.session);
        if (o?.owner !== this.init.self) return [];
        // a conference the schedulers assigned here stays here between participants (its last dialog ending is
        // not the end of the assignment): released only when the assignment goes (DELETE /v1/sessions/:id)
        if ((o.epoch ?? 0) > 0) {
          this.counters.keptAssigned++;
          return [];
        }
        // kept claimed for the linger (a draining host releases at once: it takes nothing new)
        if (this.lingerMs > 0 && !this.draining) {
          if (!this.lingering.has(m.session)) this.counters.lingered++;
          this.lingering.set(m.session, this.components.now() + this.lingerMs);
          return [];
        }
        this.lingering.delete(m.session);
        return [{ type: 'close', session: m.session }];
      }
      case 'held': {
        const out: RouterCommand[] = [];
        for (const s of m.sessions) {
          const o = this.components.ownership.owner(s);
          if (o?.owner === this.init.self) continue;
          if (o && live(o.ownerStatus)) {
            this.counters.heldElsewhere++;
            out.push({ type: 'send', msg: { kind: 'delta', owners: [[s, o.owner]] } });
          } else {
            // a restarted router re-claims what its dispatcher still serves (the total order settles conflicts)
            out.push({ type: 'claim', session: s });
          }
        }
        return out;
      }
      case 'sessionOpened': {
        const k = m.conferenceId || m.callId;
        if (this.lingering.delete(k)) this.counters.lingerReused++;
        this.localDialogs.set(k, (this.localDialogs.get(k) ?? 0) + 1);
        return [];
      }
      case 'sessionClosed': {
        const k = m.conferenceId || m.callId;
        const n = (this.localDialogs.get(k) ?? 0) - 1;
        if (n > 0) this.localDialogs.set(k, n);
        else this.localDialogs.delete(k);
        return [];
      }
    }
  }

  /** A lingering session's release, if it is still ours, unassigned and without dialogs here. */
  private releaseNow(session: string): RouterCommand | undefined {
    if ((this.localDialogs.get(session) ?? 0) > 0) return undefined;
    const o = this.components.ownership.owner(session);
    if (o?.owner !== this.init.self || (o.epoch ?? 0) > 0) return undefined;
    this.counters.lingerReleased++;
    return { type: 'close', session };
  }

  private claim(session: string): RouterCommand[] {
    const o = this.components.ownership.owner(session);
    if (o && o.owner !== this.init.self && live(o.ownerStatus)) {
      // the dispatcher had not heard of the owner yet: tell it instead of stealing the session
      this.counters.claimsRedirected++;
      return [{ type: 'send', msg: { kind: 'delta', owners: [[session, o.owner]] } }];
    }
    if (o?.owner === this.init.self) return [];
    if (this.draining) {
      this.counters.claimsRefusedDraining++;
      return [];
    }
    return [{ type: 'claim', session }];
  }
}
