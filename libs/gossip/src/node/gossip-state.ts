/**
 * The pure SWIM + ownership state machine. It is fed decoded messages and the current time, and returns what to do
 * (send, broadcast, report). It owns no socket and no timer: its driver calls {@link GossipState.tick} at
 * {@link GossipState.nextDeadline}. Each call returns a fresh action array.
 */
import type { GossipConfig } from '../config.js';
import { BroadcastQueue } from '../dissemination/broadcast-queue.js';
import { GossipError } from '../errors.js';
import { suspicionBounds, suspicionTimeout, type SuspicionBounds } from '../membership/suspicion.js';
import { OwnershipMap, type OwnerEntry } from '../ownership/ownership-map.js';
import {
  eventToWire,
  MAX_SESSION_LENGTH,
  MsgType,
  type GossipEventMsg,
  type MemberRecord,
  type MemberStatus,
  type Message,
  type OwnerRecord,
  type WireValue,
} from '../wire/messages.js';
import { HEADER_BYTES, MAC_BYTES } from '../wire/codec.js';
import type { Action, GossipEvent, MemberView } from './events.js';

export interface GossipStateInit {
  id: string;
  /** The address others reach us at (`host:port`). */
  addr: string;
  /** Addresses to join through (push-pull on start, and while we know no live member). */
  seeds: readonly string[];
  config: Readonly<GossipConfig>;
  /** Uniform in [0, 1): a seeded generator in simulations. */
  random: () => number;
  /** Packed size in bytes of a wire value (the codec's). */
  sizeOf: (v: WireValue) => number;
}

interface Suspicion {
  startedAt: number;
  bounds: SuspicionBounds;
  /** The first suspector is not a confirmation; every other distinct sender is. */
  readonly from: Set<string>;
  deadline: number;
}

interface Member {
  id: string;
  addr: string;
  inc: number;
  status: MemberStatus;
  since: number;
  suspicion: Suspicion | undefined;
}

interface Probe {
  target: string;
  seq: number;
  timeoutAt: number;
  indirectSent: boolean;
  acked: boolean;
}

interface Relay {
  to: string;
  seq: number;
  expiresAt: number;
}

export interface StateCounters {
  probes: number;
  probesFailed: number;
  indirectProbes: number;
  refutations: number;
  pushPulls: number;
  eventsApplied: number;
  misdirectedPings: number;
}

// fixed fields of the largest message around its events: from, target, targetAddr, seq, array headers
const FIXED_FIELDS_BYTES = 3 * 66 + 9 + 16;

export class GossipState {
  private readonly cfg: Readonly<GossipConfig>;
  private readonly self: Member;
  private readonly members = new Map<string, Member>();
  private readonly suspects = new Map<string, Member>();
  /** Alive and suspect members (not us), for O(1) random picks. */
  private readonly live = new IndexedSet<Member>();
  private readonly ownership: OwnershipMap;
  private readonly queue = new BroadcastQueue();
  private readonly relays = new Map<number, Relay>();
  private out: Action[] = [];
  private readonly eventBudget: number;
  private readonly stateBudget: number;
  private probeOrder: string[] = [];
  private probeIndex = 0;
  private probe: Probe | undefined;
  private seq = 0;
  private awareness = 0;
  private liveCount = 1;
  private leaving = false;
  private announced = false;
  private nextProbeAt = 0;
  private nextGossipAt = 0;
  private nextPushPullAt = 0;
  private nextReconnectAt = 0;
  private nextSweepAt = 0;
  readonly counters: StateCounters = {
    probes: 0,
    probesFailed: 0,
    indirectProbes: 0,
    refutations: 0,
    pushPulls: 0,
    eventsApplied: 0,
    misdirectedPings: 0,
  };

  constructor(private readonly init: GossipStateInit) {
    this.cfg = init.config;
    this.self = { id: init.id, addr: init.addr, inc: 0, status: 'alive', since: 0, suspicion: undefined };
    this.ownership = new OwnershipMap(this.cfg.tombstoneTtlMs);
    this.eventBudget = this.cfg.maxDatagramBytes - HEADER_BYTES - MAC_BYTES - FIXED_FIELDS_BYTES;
    this.stateBudget = this.eventBudget;
  }

  get id(): string {
    return this.self.id;
  }

  get incarnation(): number {
    return this.self.inc;
  }

  /** Lifeguard local-health score (0 = healthy); probe timers are stretched by (1 + score). */
  get healthScore(): number {
    return this.awareness;
  }

  get pendingBroadcasts(): number {
    return this.queue.length;
  }

  /** Starts the protocol: push-pull with every seed; timers start at random phases so members do not beat together. */
  start(now: number): readonly Action[] {
    this.out = [];
    this.self.since = now;
    const r = this.init.random;
    this.nextProbeAt = now + Math.floor(r() * this.cfg.probeIntervalMs);
    this.nextGossipAt = now + Math.floor(r() * this.cfg.gossipIntervalMs);
    this.nextPushPullAt = now + Math.floor((0.5 + r() / 2) * this.cfg.pushPullIntervalMs);
    this.nextReconnectAt = now + Math.floor((0.5 + r() / 2) * this.cfg.reconnectIntervalMs);
    this.nextSweepAt = now + this.cfg.probeIntervalMs;
    for (const seed of this.init.seeds) if (seed !== this.self.addr) this.sendState(seed, true, true);
    return this.out;
  }

  /** Announces that we leave: the event goes out at once; after it, stop the driver. */
  leave(now: number): readonly Action[] {
    this.out = [];
    this.leaving = true;
    this.originate({ kind: 'left', id: this.self.id, inc: this.self.inc }, now);
    return this.out;
  }

  /** Earliest time at which {@link tick} has something to do. */
  nextDeadline(): number {
    let d = Math.min(this.nextProbeAt, this.nextPushPullAt, this.nextReconnectAt, this.nextSweepAt);
    if (this.probe && !this.probe.acked && !this.probe.indirectSent) d = Math.min(d, this.probe.timeoutAt);
    if (this.queue.length) d = Math.min(d, this.nextGossipAt);
    for (const m of this.suspects.values()) if (m.suspicion) d = Math.min(d, m.suspicion.deadline);
    return d;
  }

  /** Runs whatever is due at `now`: probe, indirect probe, suspicion timeouts, gossip, push-pull, expiry. */
  tick(now: number): readonly Action[] {
    this.out = [];
    const p = this.probe;
    if (p && !p.acked && !p.indirectSent && now >= p.timeoutAt) this.sendIndirect(p);
    if (now >= this.nextProbeAt) this.probeNext(now);
    for (const m of this.suspects.values()) {
      if (m.suspicion && now >= m.suspicion.deadline) {
        this.suspectOrDead({ kind: 'dead', id: m.id, inc: m.inc, from: this.self.id }, now);
      }
    }
    if (now >= this.nextGossipAt && this.queue.length) {
      this.nextGossipAt = now + this.cfg.gossipIntervalMs;
      this.gossip();
    }
    if (now >= this.nextPushPullAt) {
      this.nextPushPullAt = now + this.cfg.pushPullIntervalMs;
      const target = this.randomMembers(1, undefined)[0];
      if (target) {
        this.counters.pushPulls++;
        this.sendState(target.addr, true, false);
      }
    }
    if (now >= this.nextReconnectAt) {
      this.nextReconnectAt = now + this.cfg.reconnectIntervalMs;
      this.reconnect();
    }
    if (now >= this.nextSweepAt) {
      this.nextSweepAt = now + this.cfg.probeIntervalMs;
      this.sweep(now);
    }
    return this.out;
  }

  /** Handles one authenticated, decoded message that arrived from address `from`. */
  handle(msg: Message, from: string, now: number): readonly Action[] {
    this.out = [];
    if (msg.type === MsgType.State) {
      this.mergeState(msg.members, msg.owners, msg.from, now);
      if (msg.reply) this.sendState(from, false, false);
      this.announceIfFirstContact(now);
      return this.out;
    }
    for (const e of msg.events) this.applyEvent(e, now, msg.from);
    switch (msg.type) {
      case MsgType.Ping:
        if (msg.target !== this.self.id) {
          // a restarted host reusing an address: do not ack in someone else's name
          this.counters.misdirectedPings++;
          break;
        }
        this.send(from, { type: MsgType.Ack, seq: msg.seq, from: this.self.id, events: this.piggyback() });
        break;
      case MsgType.PingReq: {
        const seq = this.nextSeq();
        this.relays.set(seq, { to: from, seq: msg.seq, expiresAt: now + this.cfg.probeIntervalMs * 2 });
        this.send(msg.targetAddr, {
          type: MsgType.Ping,
          seq,
          from: this.self.id,
          target: msg.target,
          events: [],
        });
        break;
      }
      case MsgType.Ack: {
        const p = this.probe;
        if (p && p.seq === msg.seq) {
          p.acked = true;
          break;
        }
        const relay = this.relays.get(msg.seq);
        if (relay) {
          this.relays.delete(msg.seq);
          this.send(relay.to, {
            type: MsgType.Ack,
            seq: relay.seq,
            from: this.self.id,
            events: this.piggyback(),
          });
        }
        break;
      }
      case MsgType.Gossip:
        break;
    }
    this.announceIfFirstContact(now);
    return this.out;
  }

  // ---- ownership API -------------------------------------------------------------------------------------------

  /**
   * Claims `session` for this host. Without `epoch`, keeps the current epoch and bumps the version (a re-claim
   * or takeover at the same assignment). Throws `GSP_ERR_STALE_CLAIM` when `epoch` is lower than the known one,
   * `GSP_ERR_BAD_ID` for an empty or too long session id.
   */
  claim(session: string, epoch: number | undefined, now: number): readonly Action[] {
    this.out = [];
    checkSession(session);
    const cur = this.ownership.get(session);
    const e = epoch ?? cur?.epoch ?? 0;
    if (!Number.isSafeInteger(e) || e < 0)
      throw new GossipError('GSP_ERR_STALE_CLAIM', `epoch must be a natural number, got ${e}`);
    if (cur && e < cur.epoch) {
      throw new GossipError(
        'GSP_ERR_STALE_CLAIM',
        `claim of ${session} at epoch ${e} < known epoch ${cur.epoch}`,
        {
          details: { session, epoch: e, known: cur.epoch },
        },
      );
    }
    if (cur && !cur.closed && cur.owner === this.self.id && cur.epoch === e) return this.out;
    const version = cur && cur.epoch === e ? cur.version + 1 : 1;
    this.originate({ kind: 'claim', session, owner: this.self.id, epoch: e, version }, now);
    return this.out;
  }

  /** Closes a session this host owns (a tombstone that expires). Throws `GSP_ERR_NOT_OWNER` otherwise. */
  close(session: string, now: number): readonly Action[] {
    this.out = [];
    const cur = this.ownership.get(session);
    if (!cur || cur.closed || cur.owner !== this.self.id) {
      throw new GossipError('GSP_ERR_NOT_OWNER', `close of ${session}: not open on this host`, {
        details: { session, owner: cur?.owner },
      });
    }
    this.originate(
      { kind: 'close', session, owner: this.self.id, epoch: cur.epoch, version: cur.version + 1 },
      now,
    );
    return this.out;
  }

  owner(session: string): OwnerEntry | undefined {
    return this.ownership.get(session);
  }

  ownerEntries(): IterableIterator<OwnerEntry> {
    return this.ownership.values();
  }

  ownershipDigest(): string {
    return this.ownership.digest();
  }

  /** Status of `id` as this member sees it (`undefined` when unknown). */
  memberStatus(id: string): MemberStatus | undefined {
    return id === this.self.id ? this.self.status : this.members.get(id)?.status;
  }

  /** Every known member, this one included. */
  memberList(): MemberView[] {
    const out: MemberView[] = [view(this.self)];
    for (const m of this.members.values()) out.push(view(m));
    return out;
  }

  /** Addresses a broadcast goes to in unicast mode: every alive or suspect member but us. */
  broadcastTargets(out: string[]): string[] {
    out.length = 0;
    for (const m of this.members.values())
      if (m.status === 'alive' || m.status === 'suspect') out.push(m.addr);
    return out;
  }

  /** Members counted for log(N) bounds: alive and suspect, this one included. */
  get clusterSize(): number {
    return this.liveCount;
  }

  // ---- probing -------------------------------------------------------------------------------------------------

  private probeNext(now: number): void {
    const p = this.probe;
    if (p && !p.acked) {
      this.counters.probesFailed++;
      this.awareness = Math.min(this.cfg.awarenessMax, this.awareness + 1);
      const m = this.members.get(p.target);
      if (m && (m.status === 'alive' || m.status === 'suspect')) {
        this.suspectOrDead({ kind: 'suspect', id: m.id, inc: m.inc, from: this.self.id }, now);
      }
    } else if (p) {
      this.awareness = Math.max(0, this.awareness - 1);
    }
    this.probe = undefined;
    const scale = 1 + this.awareness;
    this.nextProbeAt = now + this.cfg.probeIntervalMs * scale;
    const target = this.nextProbeTarget();
    if (!target) return;
    const seq = this.nextSeq();
    this.counters.probes++;
    this.probe = {
      target: target.id,
      seq,
      timeoutAt: now + this.cfg.probeTimeoutMs * scale,
      indirectSent: false,
      acked: false,
    };
    this.send(target.addr, {
      type: MsgType.Ping,
      seq,
      from: this.self.id,
      target: target.id,
      events: this.piggyback(),
    });
  }

  private nextProbeTarget(): Member | undefined {
    for (let pass = 0; pass < 2; pass++) {
      while (this.probeIndex < this.probeOrder.length) {
        const m = this.members.get(this.probeOrder[this.probeIndex++]!);
        if (m && (m.status === 'alive' || m.status === 'suspect')) return m;
      }
      // a new round: every live member once, in a fresh random order
      this.probeOrder = [];
      for (const m of this.members.values())
        if (m.status === 'alive' || m.status === 'suspect') this.probeOrder.push(m.id);
      shuffle(this.probeOrder, this.init.random);
      this.probeIndex = 0;
    }
    return undefined;
  }

  private sendIndirect(p: Probe): void {
    p.indirectSent = true;
    const target = this.members.get(p.target);
    if (!target) return;
    for (const m of this.randomMembers(this.cfg.indirectChecks, p.target)) {
      this.counters.indirectProbes++;
      this.send(m.addr, {
        type: MsgType.PingReq,
        seq: p.seq,
        from: this.self.id,
        target: target.id,
        targetAddr: target.addr,
        events: this.piggyback(),
      });
    }
  }

  // ---- dissemination -------------------------------------------------------------------------------------------

  private retransmitLimit(): number {
    return this.cfg.retransmitMult * Math.ceil(Math.log10(this.liveCount + 1));
  }

  private piggyback(): GossipEventMsg[] {
    const events: GossipEventMsg[] = [];
    this.queue.take(this.eventBudget, this.retransmitLimit(), events);
    return events;
  }

  private gossip(): void {
    // suspects too: a member wrongly suspected must still hear what happens meanwhile (and that it is suspected)
    for (const m of this.randomMembers(this.cfg.gossipFanout, undefined, true)) {
      const events = this.piggyback();
      if (!events.length) return;
      this.send(m.addr, { type: MsgType.Gossip, from: this.self.id, events });
    }
  }

  /** An event we create: applied here, sent to everyone at once, then piggybacked λ·log N times. */
  private originate(e: GossipEventMsg, now: number): void {
    this.applyEvent(e, now, this.self.id);
    this.broadcastNow(e, now);
  }

  private broadcastNow(e: GossipEventMsg, now: number): void {
    if (this.cfg.broadcastNewEvents) {
      this.out.push({ type: 'broadcast', msg: { type: MsgType.Gossip, from: this.self.id, events: [e] } });
    } else {
      // classic SWIM: the next gossip tick (now) carries it to gossipFanout members
      this.nextGossipAt = Math.min(this.nextGossipAt, now);
    }
  }

  /**
   * Suspicions and deaths we conclude spread by gossip only (queue + the next gossip tick), not by an immediate
   * send to everyone: every member reaches them on its own timer, and N members each broadcasting N verdicts is
   * O(N²) datagrams at the worst moment (a partition).
   */
  private suspectOrDead(e: GossipEventMsg, now: number): void {
    this.applyEvent(e, now, this.self.id);
    this.nextGossipAt = Math.min(this.nextGossipAt, now);
  }

  private enqueue(e: GossipEventMsg): void {
    const key = e.kind === 'claim' || e.kind === 'close' ? `s:${e.session}` : `m:${e.id}`;
    this.queue.enqueue(key, e, this.init.sizeOf(eventToWire(e)));
  }

  // ---- applying events -----------------------------------------------------------------------------------------

  /** Applies one event; a change is queued for re-dissemination. `via` is the member that told us. */
  private applyEvent(e: GossipEventMsg, now: number, via: string): void {
    let changed: boolean;
    switch (e.kind) {
      case 'alive':
        changed = this.applyAlive(e.id, e.addr, e.inc, now);
        break;
      case 'suspect':
        changed = this.applySuspect(e.id, e.inc, e.from, now);
        break;
      case 'dead':
      case 'left':
        changed = this.applyDown(
          e.id,
          e.inc,
          e.kind === 'dead' ? 'dead' : 'left',
          e.kind === 'dead' ? e.from : e.id,
          now,
        );
        break;
      case 'claim':
      case 'close':
        changed = this.applyOwner(
          {
            session: e.session,
            owner: e.owner,
            epoch: e.epoch,
            version: e.version,
            closed: e.kind === 'close',
          },
          now,
        );
        break;
    }
    void via;
    if (changed) {
      this.counters.eventsApplied++;
      this.enqueue(e);
    }
  }

  private applyAlive(id: string, addr: string, inc: number, now: number): boolean {
    if (id === this.self.id) {
      // someone remembers a later incarnation of us (from before a restart): outbid it
      if (inc > this.self.inc && !this.leaving) this.refute(inc, now);
      return false;
    }
    const m = this.members.get(id);
    if (!m) {
      const nm: Member = { id, addr, inc, status: 'alive', since: now, suspicion: undefined };
      this.members.set(id, nm);
      this.liveCount++;
      // probe the newcomer within this round, at a random place among those not yet probed (O(1): swap)
      this.probeOrder.push(id);
      const at =
        this.probeIndex + Math.floor(this.init.random() * (this.probeOrder.length - this.probeIndex));
      const last = this.probeOrder.length - 1;
      this.probeOrder[last] = this.probeOrder[at]!;
      this.probeOrder[at] = id;
      this.live.add(nm);
      this.report({ type: 'member-joined', member: view(nm) });
      return true;
    }
    if (inc <= m.inc) return false;
    const was = m.status;
    m.inc = inc;
    m.addr = addr;
    this.setStatus(m, 'alive', now);
    if (was !== 'alive') {
      if (was === 'dead' || was === 'left') this.probeOrder.push(id);
      this.report({ type: 'member-alive', member: view(m) });
    }
    return true;
  }

  private applySuspect(id: string, inc: number, from: string, now: number): boolean {
    if (id === this.self.id) {
      if (inc >= this.self.inc && !this.leaving) this.refute(inc, now);
      return false;
    }
    const m = this.members.get(id);
    if (!m || inc < m.inc || m.status === 'dead' || m.status === 'left') return false;
    if (m.status === 'suspect' && inc === m.inc) {
      const s = m.suspicion;
      if (!s || s.from.has(from)) return false;
      s.from.add(from);
      s.deadline = s.startedAt + suspicionTimeout(s.from.size - 1, s.bounds);
      return true;
    }
    m.inc = inc;
    this.setStatus(m, 'suspect', now);
    const bounds = suspicionBounds(this.liveCount, this.cfg);
    m.suspicion = {
      startedAt: now,
      bounds,
      from: new Set([from]),
      deadline: now + suspicionTimeout(0, bounds),
    };
    this.suspects.set(id, m);
    this.report({ type: 'member-suspect', member: view(m) });
    return true;
  }

  private applyDown(id: string, inc: number, status: 'dead' | 'left', from: string, now: number): boolean {
    if (id === this.self.id) {
      if (!this.leaving && inc >= this.self.inc) this.refute(inc, now);
      return false;
    }
    const m = this.members.get(id);
    if (!m || inc < m.inc || m.status === 'dead' || m.status === 'left') return false;
    void from;
    m.inc = inc;
    this.setStatus(m, status, now);
    this.report({ type: status === 'dead' ? 'member-dead' : 'member-left', member: view(m) });
    const orphans = this.ownership.ownedBy(id);
    if (orphans.length) this.report({ type: 'sessions-orphaned', host: id, sessions: orphans });
    return true;
  }

  private applyOwner(rec: OwnerRecord, now: number): boolean {
    const previous = this.ownership.apply(rec, now);
    if (previous === undefined) return false;
    const entry = this.ownership.get(rec.session)!;
    if (entry.closed) {
      if (previous && !previous.closed) this.report({ type: 'session-closed', session: rec.session, entry });
    } else {
      this.report({ type: 'owner-changed', session: rec.session, entry, previous });
      // a claim for a host we already consider gone is an orphan from the start
      const st = this.memberStatus(entry.owner);
      if (st === 'dead' || st === 'left') {
        this.report({ type: 'sessions-orphaned', host: entry.owner, sessions: [rec.session] });
      }
    }
    return true;
  }

  private setStatus(m: Member, status: MemberStatus, now: number): void {
    const wasLive = m.status === 'alive' || m.status === 'suspect';
    const isLive = status === 'alive' || status === 'suspect';
    if (wasLive && !isLive) {
      this.liveCount--;
      this.live.remove(m);
    }
    if (!wasLive && isLive) {
      this.liveCount++;
      this.live.add(m);
    }
    m.status = status;
    m.since = now;
    if (status !== 'suspect') {
      m.suspicion = undefined;
      this.suspects.delete(m.id);
    }
  }

  private refute(inc: number, now: number): void {
    this.self.inc = Math.max(this.self.inc, inc) + 1;
    this.counters.refutations++;
    // being suspected hints that we are the slow one (Lifeguard): probe more patiently
    this.awareness = Math.min(this.cfg.awarenessMax, this.awareness + 1);
    this.report({ type: 'self-refuted', inc: this.self.inc });
    const e: GossipEventMsg = { kind: 'alive', id: this.self.id, addr: this.self.addr, inc: this.self.inc };
    this.enqueue(e);
    this.broadcastNow(e, now);
  }

  /** The first time we learn of another live member (after joining), we announce ourselves to all at once. */
  private announceIfFirstContact(now: number): void {
    if (this.announced || this.liveCount < 2) return;
    this.announced = true;
    const e: GossipEventMsg = { kind: 'alive', id: this.self.id, addr: this.self.addr, inc: this.self.inc };
    this.enqueue(e);
    this.broadcastNow(e, now);
  }

  // ---- anti-entropy --------------------------------------------------------------------------------------------

  private mergeState(members: MemberRecord[], owners: OwnerRecord[], from: string, now: number): void {
    for (const r of members) {
      switch (r.status) {
        case 'alive':
          this.applyEvent({ kind: 'alive', id: r.id, addr: r.addr, inc: r.inc }, now, from);
          break;
        case 'suspect':
        case 'dead':
          // a remote death is only a suspicion here: we give the member its chance to refute (memberlist does the same)
          if (!this.members.has(r.id) && r.id !== this.self.id) {
            this.applyEvent({ kind: 'alive', id: r.id, addr: r.addr, inc: r.inc }, now, from);
          }
          this.applyEvent({ kind: 'suspect', id: r.id, inc: r.inc, from }, now, from);
          break;
        case 'left':
          if (!this.members.has(r.id) && r.id !== this.self.id) {
            this.applyEvent({ kind: 'alive', id: r.id, addr: r.addr, inc: r.inc }, now, from);
          }
          this.applyEvent({ kind: 'left', id: r.id, inc: r.inc }, now, from);
          break;
      }
    }
    for (const o of owners) {
      const e: GossipEventMsg = {
        kind: o.closed ? 'close' : 'claim',
        session: o.session,
        owner: o.owner,
        epoch: o.epoch,
        version: o.version,
      };
      this.applyEvent(e, now, from);
    }
  }

  /** Sends our full state to `to`, split into as many datagrams as the size bound needs. */
  private sendState(to: string, reply: boolean, join: boolean): void {
    let members: MemberRecord[] = [];
    let owners: OwnerRecord[] = [];
    let used = 0;
    let first = true;
    const flush = () => {
      this.send(to, {
        type: MsgType.State,
        from: this.self.id,
        reply: reply && first,
        join,
        members,
        owners,
      });
      first = false;
      members = [];
      owners = [];
      used = 0;
    };
    const all = [this.self, ...this.members.values()];
    for (const m of all) {
      const r: MemberRecord = { id: m.id, addr: m.addr, inc: m.inc, status: m.status };
      const size = this.init.sizeOf([r.id, r.addr, r.inc, 0]);
      if (used + size > this.stateBudget) flush();
      members.push(r);
      used += size;
    }
    for (const o of this.ownership.values()) {
      const size = this.init.sizeOf([o.session, o.owner, o.epoch, o.version, 0]);
      if (used + size > this.stateBudget) flush();
      owners.push({
        session: o.session,
        owner: o.owner,
        epoch: o.epoch,
        version: o.version,
        closed: o.closed,
      });
      used += size;
    }
    if (members.length || owners.length) flush();
  }

  private reconnect(): void {
    // after a partition, the other side is dead to us: push-pull with one of them lets both sides refute and merge
    const dead: Member[] = [];
    for (const m of this.members.values()) if (m.status === 'dead') dead.push(m);
    if (dead.length) {
      const m = dead[Math.floor(this.init.random() * dead.length)]!;
      this.sendState(m.addr, true, false);
    }
    if (this.liveCount < 2) {
      for (const seed of this.init.seeds) if (seed !== this.self.addr) this.sendState(seed, true, true);
    }
  }

  private sweep(now: number): void {
    this.ownership.expire(now);
    for (const [seq, r] of this.relays) if (r.expiresAt <= now) this.relays.delete(seq);
    for (const m of this.members.values()) {
      if ((m.status === 'dead' || m.status === 'left') && now - m.since >= this.cfg.deadRetentionMs) {
        this.members.delete(m.id);
      }
    }
  }

  // ---- helpers -------------------------------------------------------------------------------------------------

  /**
   * Up to `n` distinct random alive (and, if asked, suspect) members, excluding `except`: rejection sampling from the
   * live list (O(n) in a large cluster), falling back to a scan when few members qualify.
   */
  private randomMembers(n: number, except: string | undefined, withSuspects = false): Member[] {
    const ok = (m: Member) =>
      (m.status === 'alive' || (withSuspects && m.status === 'suspect')) && m.id !== except;
    const live = this.live.items;
    const picked: Member[] = [];
    if (live.length > 4 * n + 8) {
      for (let attempt = 0; attempt < 8 * n && picked.length < n; attempt++) {
        const m = live[Math.floor(this.init.random() * live.length)]!;
        if (ok(m) && !picked.includes(m)) picked.push(m);
      }
      if (picked.length === n) return picked;
      picked.length = 0;
    }
    const pool = live.filter(ok);
    const k = Math.min(n, pool.length);
    for (let i = 0; i < k; i++) {
      const j = i + Math.floor(this.init.random() * (pool.length - i));
      const t = pool[i]!;
      pool[i] = pool[j]!;
      pool[j] = t;
      picked.push(pool[i]!);
    }
    return picked;
  }

  private send(to: string, msg: Message): void {
    this.out.push({ type: 'send', to, msg });
  }

  private report(event: GossipEvent): void {
    this.out.push({ type: 'event', event });
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) % 0x1_0000_0000;
    return this.seq;
  }
}

/** An array with O(1) add and remove (swap with the last), for uniform random picks. */
class IndexedSet<T> {
  readonly items: T[] = [];
  private readonly index = new Map<T, number>();

  add(v: T): void {
    if (this.index.has(v)) return;
    this.index.set(v, this.items.length);
    this.items.push(v);
  }

  remove(v: T): void {
    const i = this.index.get(v);
    if (i === undefined) return;
    const last = this.items.pop()!;
    this.index.delete(v);
    if (last !== v) {
      this.items[i] = last;
      this.index.set(last, i);
    }
  }
}

function view(m: Member): MemberView {
  return { id: m.id, addr: m.addr, inc: m.inc, status: m.status };
}

function shuffle<T>(a: T[], random: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
}

function checkSession(session: string): void {
  if (typeof session !== 'string' || session.length === 0 || session.length > MAX_SESSION_LENGTH) {
    throw new GossipError('GSP_ERR_BAD_ID', `session id must be 1..${MAX_SESSION_LENGTH} characters`);
  }
}
