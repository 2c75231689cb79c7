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
}

const live = (s: MemberStatus | 'unknown') => s === 'alive' || s === 'suspect';

/**
 * A host's drain state travels as an ownership entry: while draining, the host owns `drainMarker(id)`. The control
 * character keeps it apart from every SIP key (a Call-ID or a URI user part cannot hold one unescaped); it never
 * reaches the dispatcher nor the session lists.
 */
export const DRAIN_MARKER_PREFIX = '\u0001drain:';
export const drainMarker = (host: string): string => `${DRAIN_MARKER_PREFIX}${host}`;
export const isDrainMarker = (session: string): boolean => session.startsWith(DRAIN_MARKER_PREFIX);

export class RouterCore {
  readonly counters: RouterCounters = {
    claimsRedirected: 0,
    claimsRefusedDraining: 0,
    lostWithDialogs: 0,
    heldElsewhere: 0,
    keptAssigned: 0,
  };
  /** Dialogs per session on this host's workers, from the dispatcher's reports. */
  readonly localDialogs = new Map<string, number>();
  private draining = false;

  constructor(
    private readonly components: { ownership: OwnershipReader; hosts: HostTable },
    private readonly init: { self: string; mode: Encapsulation },
  ) {}

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
        if (
          e.previous?.owner === this.init.self &&
          e.entry.owner !== this.init.self &&
          (this.localDialogs.get(e.session) ?? 0) > 0
        )
          this.counters.lostWithDialogs++;
        return [{ kind: 'delta', owners: [[e.session, e.entry.closed ? null : e.entry.owner]] }];
      }
      case 'session-closed':
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
