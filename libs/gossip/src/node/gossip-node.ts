/**
 * A gossip member: the {@link GossipState} machine wired to a {@link Transport}, a {@link Clock} and the wire codec.
 * It keeps one timer, armed for the state machine's next deadline.
 */
import {
  RateLimitedLog,
  silentLogger,
  systemClock,
  type Clock,
  type Logger,
  type Startable,
  type TimerHandle,
} from '@switchyard/core';
import { parseGossipConfig, type GossipConfig } from '../config.js';
import { DropReasons, GossipError, type DropReason } from '../errors.js';
import type { OwnerEntry } from '../ownership/ownership-map.js';
import { Codec } from '../wire/codec.js';
import { createKeyring, type KeyringInit } from '../wire/keyring.js';
import { MAX_ADDR_LENGTH, MAX_ID_LENGTH, type Message, type MemberStatus } from '../wire/messages.js';
import type { Transport } from '../transport/transport.js';
import type { Action, GossipEvent, MemberView } from './events.js';
import { GossipState, type StateCounters } from './gossip-state.js';

export interface GossipNodeComponents {
  transport: Transport;
  clock?: Clock;
  logger?: Logger;
  /** Uniform in [0, 1); pass a seeded generator for reproducible simulations. */
  random?: () => number;
}

export interface GossipNodeInit {
  /** This host's id: unique in the cluster, 1..64 characters. Lower ids win ownership ties. */
  id: string;
  /** Keys to sign and verify datagrams with (see README, security model). */
  keyring: KeyringInit;
  /** `host:port` of members to join through. */
  seeds?: readonly string[];
  /** Address advertised to others; default: the transport's local address. */
  advertiseAddress?: string;
  /** Overrides of {@link GOSSIP_LAN_DEFAULTS} (or spread {@link GOSSIP_TEST_PROFILE}). */
  config?: Partial<GossipConfig>;
}

export interface GossipStats {
  /** `multicast` counts group datagrams (also included in `datagrams`). */
  sent: { datagrams: number; bytes: number; multicast: number };
  received: { datagrams: number; bytes: number };
  dropped: Record<DropReason, number>;
  /** Exceptions caught around the state machine (a bug if ever non-zero; the member keeps running). */
  internalErrors: number;
  state: StateCounters;
}

export type GossipListener = (event: GossipEvent) => void;

/** The entry of a session plus whether its owner is currently considered alive. */
export interface OwnerLookup extends OwnerEntry {
  /** The owner's status here; `dead`/`left` means the session is orphaned and must be re-homed. */
  readonly ownerStatus: MemberStatus | 'unknown';
}

export class GossipNode implements Startable {
  readonly config: Readonly<GossipConfig>;
  private readonly transport: Transport;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly badInputLog: RateLimitedLog;
  private readonly random: () => number;
  private readonly codec: Codec;
  private readonly listeners = new Set<GossipListener>();
  private readonly targets: string[] = [];
  private state: GossipState | undefined;
  private timer: TimerHandle | undefined;
  private timerAt = Infinity;
  private stopped = false;
  private readonly counters: GossipStats;

  /** Validates config and keyring (throws `GSP_ERR_CONFIG`, `GSP_ERR_KEYRING`, `GSP_ERR_BAD_ID`). */
  constructor(
    components: GossipNodeComponents,
    private readonly init: GossipNodeInit,
  ) {
    if (typeof init.id !== 'string' || !init.id.length || init.id.length > MAX_ID_LENGTH) {
      throw new GossipError('GSP_ERR_BAD_ID', `id must be 1..${MAX_ID_LENGTH} characters`);
    }
    this.config = parseGossipConfig(init.config);
    this.transport = components.transport;
    this.clock = components.clock ?? systemClock;
    this.logger = (components.logger ?? silentLogger).child({ gossip: init.id });
    this.badInputLog = new RateLimitedLog(this.logger, this.clock);
    this.random = components.random ?? Math.random;
    this.codec = new Codec(createKeyring(init.keyring), this.config);
    const dropped = Object.fromEntries(Object.keys(DropReasons).map((k) => [k, 0])) as Record<
      DropReason,
      number
    >;
    this.counters = {
      sent: { datagrams: 0, bytes: 0, multicast: 0 },
      received: { datagrams: 0, bytes: 0 },
      dropped,
      internalErrors: 0,
      state: undefined as unknown as StateCounters,
    };
  }

  get id(): string {
    return this.init.id;
  }

  /** The address others reach this member at (after start). */
  get address(): string {
    return this.init.advertiseAddress ?? this.transport.localAddress;
  }

  async start(): Promise<void> {
    if (this.state) throw new GossipError('GSP_ERR_STATE', 'gossip node already started');
    await this.transport.start((bytes, from) => this.onDatagram(bytes, from));
    const addr = this.address;
    if (!addr.length || addr.length > MAX_ADDR_LENGTH) {
      throw new GossipError('GSP_ERR_BAD_ID', `advertised address must be 1..${MAX_ADDR_LENGTH} characters`);
    }
    this.state = new GossipState({
      id: this.init.id,
      addr,
      seeds: this.init.seeds ?? [],
      config: this.config,
      random: this.random,
      sizeOf: (v) => this.codec.sizeOf(v),
    });
    this.counters.state = this.state.counters;
    this.run(this.state.start(this.clock.now()));
  }

  /** Announces a graceful leave (sent at once), then stops. */
  async leave(): Promise<void> {
    if (this.state && !this.stopped) this.run(this.state.leave(this.clock.now()));
    await this.stop();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.transport.stop();
  }

  /** Subscribes to membership and ownership events; returns the unsubscribe function. */
  on(listener: GossipListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Claims `session` for this host (see {@link GossipState.claim}); the event is sent at once. */
  claim(session: string, epoch?: number): void {
    this.run(this.must().claim(session, epoch, this.clock.now()));
  }

  /** Closes a session this host owns; throws `GSP_ERR_NOT_OWNER` otherwise. */
  close(session: string): void {
    this.run(this.must().close(session, this.clock.now()));
  }

  /** Who owns `session`, and whether that owner is alive here. `undefined` for unknown or closed sessions. */
  owner(session: string): OwnerLookup | undefined {
    const s = this.must();
    const e = s.owner(session);
    if (!e || e.closed) return undefined;
    return { ...e, ownerStatus: s.memberStatus(e.owner) ?? 'unknown' };
  }

  /** Every known entry, tombstones included. */
  ownerEntries(): OwnerEntry[] {
    return [...this.must().ownerEntries()];
  }

  /** SHA-256 of the open ownership entries: equal on two members means equal maps. */
  ownershipDigest(): string {
    return this.must().ownershipDigest();
  }

  members(): MemberView[] {
    return this.must().memberList();
  }

  memberStatus(id: string): MemberStatus | undefined {
    return this.must().memberStatus(id);
  }

  get incarnation(): number {
    return this.must().incarnation;
  }

  get healthScore(): number {
    return this.must().healthScore;
  }

  get pendingBroadcasts(): number {
    return this.must().pendingBroadcasts;
  }

  stats(): GossipStats {
    return this.counters;
  }

  private must(): GossipState {
    if (!this.state) throw new GossipError('GSP_ERR_STATE', 'gossip node not started');
    return this.state;
  }

  private onDatagram(bytes: Uint8Array, from: string): void {
    const state = this.state;
    if (!state || this.stopped) return;
    this.counters.received.datagrams++;
    this.counters.received.bytes += bytes.length;
    const now = this.clock.now();
    const r = this.codec.decode(bytes, now);
    if (!r.ok) return this.drop(r.reason, from);
    if (r.msg.from === this.init.id) return this.drop('from_self', from);
    let actions: readonly Action[];
    try {
      actions = state.handle(r.msg, from, now);
    } catch (err) {
      this.counters.internalErrors++;
      this.logger.error({ err, from }, 'gossip: handler failed; datagram ignored');
      return;
    }
    this.run(actions);
  }

  private drop(reason: DropReason, from: string): void {
    this.counters.dropped[reason]++;
    this.badInputLog.warn({ reason, from }, 'gossip: datagram dropped');
  }

  private run(actions: readonly Action[]): void {
    if (this.stopped) return;
    const now = this.clock.now();
    for (const a of actions) {
      switch (a.type) {
        case 'send':
          this.sendTo(a.to, this.encode(a.msg, now));
          break;
        case 'broadcast': {
          const bytes = this.encode(a.msg, now);
          if (!bytes) break;
          if (this.transport.multicast) {
            this.counters.sent.datagrams++;
            this.counters.sent.multicast++;
            this.counters.sent.bytes += bytes.length;
            this.transport.broadcast(bytes);
          } else {
            for (const to of this.must().broadcastTargets(this.targets)) this.sendTo(to, bytes);
          }
          break;
        }
        case 'event':
          for (const l of this.listeners) {
            try {
              l(a.event);
            } catch (err) {
              this.logger.error({ err }, 'gossip: event listener threw');
            }
          }
          break;
      }
    }
    this.arm();
  }

  private encode(msg: Message, now: number): Buffer | undefined {
    try {
      return this.codec.encode(msg, now);
    } catch (err) {
      // the state machine budgets sizes conservatively; this is a bug, not an input problem
      this.counters.internalErrors++;
      this.logger.error({ err, type: msg.type }, 'gossip: message could not be encoded');
      return undefined;
    }
  }

  private sendTo(to: string, bytes: Buffer | undefined): void {
    if (!bytes) return;
    this.counters.sent.datagrams++;
    this.counters.sent.bytes += bytes.length;
    this.transport.send(to, bytes);
  }

  private arm(): void {
    if (this.stopped || !this.state) return;
    const at = this.state.nextDeadline();
    if (at >= this.timerAt && this.timer) return;
    this.clock.clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = this.clock.setTimeout(() => this.onTimer(), Math.max(0, at - this.clock.now()));
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.stopped || !this.state) return;
    let actions: readonly Action[];
    try {
      actions = this.state.tick(this.clock.now());
    } catch (err) {
      this.counters.internalErrors++;
      this.logger.error({ err }, 'gossip: tick failed');
      actions = [];
    }
    this.run(actions);
  }
}
