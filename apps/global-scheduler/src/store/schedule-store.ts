/**
 * The scheduler's own state: pending set, claims (leases), the schedule table and capacity reservations. Two
 * implementations pass one compliance suite: {@link RedisScheduleStore} (shared by a cluster; every multi-key step
 * is one Lua script on one hash slot) and {@link MemoryScheduleStore} (one scheduler, no Redis).
 */
import type { Startable } from '@switchyard/core';

export interface ConferenceRequest {
  id: string;
  region: string;
  expectedParticipants: number;
  /** ms since epoch; it enters the scheduling window when `startAt <= now + windowMs`. */
  startAt: number;
  durationS: number;
  createdAt: number;
}

export interface Assignment {
  serverId: string;
  address: string;
  /** From one Redis counter; grows with every placement and re-placement, so a later assignment always wins. */
  epoch: number;
  /** The schedule entry's end of life (startAt + duration); the conference is ended after it. */
  expiresAt: number;
  /** How many times it was moved off a failed server. */
  moves: number;
  /** When the placing scheduler wrote the entry (its clock), for latency measurements. */
  placedAt: number;
}

export type ConferenceState = 'pending' | 'claimed' | 'placed' | 'unplaceable';

/** Why no server took a conference: none is live, none is big enough, or none has room now. */
export type UnplaceableReason = 'no-servers' | 'too-large' | 'no-room';
export const UNPLACEABLE_REASONS: readonly UnplaceableReason[] = ['no-servers', 'too-large', 'no-room'];

/** A conference no server could take: it waits out a back-off, or until capacity appears, then is tried again. */
export interface Unplaceable {
  reason: UnplaceableReason;
  /** Placements tried and failed in a row. */
  attempts: number;
  /** When it is tried again at the latest (earlier when capacity appears). */
  retryAt: number;
}

/** One move of a conference: off a server that failed its keep-alive, or by an operator (`POST …/move`). */
export interface MoveEntry {
  from: string;
  /** The server it went to (operator moves; a down-move is re-placed by the next round, which sets the epoch). */
  to?: string;
  epoch?: number;
  at: number;
  reason: 'operator' | 'server-down';
}

/** How many move entries a conference keeps (the oldest are dropped). */
export const MOVE_HISTORY_MAX = 20;

export type MoveOutcome =
  | { ok: true; from: string; assignment: Assignment }
  | { ok: false; reason: 'not-found' | 'not-placed' | 'no-capacity' };

export interface ConferenceRecord extends ConferenceRequest {
  state: ConferenceState;
  assignment?: Assignment;
  /** Scheduler holding the claim, while claimed. */
  claimedBy?: string;
  /** Set while the conference is unplaceable (also while it waits in pending for its retry). */
  unplaceable?: Unplaceable;
  /** Its moves, oldest first (at most {@link MOVE_HISTORY_MAX}); absent when it never moved. */
  history?: MoveEntry[];
}

/** A conference server that may take a conference, as the scheduler sees it from the registry. */
export interface Candidate {
  id: string;
  address: string;
  capacity: number;
  /** Last load the server reported (same units as capacity); orders candidates together with reservations. */
  load: number;
  /** 0 = the conference's own region, 1.. = its fallback regions in order. Lower tiers are always preferred. */
  tier: number;
  /** The server's region: on a region-partitioned schedule, the partition holding its reservations. */
  region?: string;
}

export interface RoundSnapshot {
  round: number;
  /** Pending conferences in the scheduling window when the round's first scheduler looked. */
  total: number;
  /** Live schedulers counted for the round (by the first scheduler to take the snapshot). */
  members: string[];
}

export type PlaceOutcome =
  | { id: string; ok: true; assignment: Assignment }
  | { id: string; ok: false; reason: UnplaceableReason; retryAt: number; attempts: number }
  | { id: string; ok: false; reason: 'claim-lost' | 'already-placed' };

/** Options of {@link ScheduleStore.place}. */
export interface PlaceOptions {
  /** The placing scheduler's clock: goes into the entry as `placedAt`, and starts back-offs. Default 0. */
  now?: number;
  /** First back-off of an unplaceable conference (doubles per miss). Default 1000. */
  backoffMs?: number;
  /** Longest back-off. Default 30000. */
  backoffMaxMs?: number;
}

/** Back-off defaults of the stores (the scheduler passes its settings). */
export const PLACE_DEFAULTS = { backoffMs: 1000, backoffMaxMs: 30_000 } as const;

/** What made room appear: 'capacity' (a server joined, grew or came back) or 'room' (a conference ended). */
export type WakeKind = 'capacity' | 'room';

export interface ShareReport {
  schedulerId: string;
  round: number;
  total: number;
  n: number;
  share: number;
  claimed: number;
  placed: number;
  unplaceable: number;
  at: number;
}

export interface ServerReservation {
  serverId: string;
  reserved: number;
  conferences: number;
}

export interface ListPage {
  items: ConferenceRecord[];
  /** Pass back as `cursor` for the next page; absent on the last page. */
  next?: string;
}

export interface ScheduleStore extends Startable {
  /**
   * Calls `listener` whenever the store's connection comes up or goes down (the Redis client's events), so health
   * follows the store at once; returns the unsubscribe. Absent where the store cannot fail (memory).
   */
  onAvailability?(listener: (up: boolean, reason?: string) => void): () => void;
  /** Adds a conference to the pending set. Throws SCH_ERR_DUPLICATE when the id exists. */
  create(request: ConferenceRequest): Promise<ConferenceRecord>;
  get(id: string): Promise<ConferenceRecord | undefined>;
  list(cursor: string | undefined, limit: number): Promise<ListPage>;
  /** Removes the conference wherever it is and frees its reservation. False when unknown. */
  end(id: string): Promise<boolean>;
  /** The round's snapshot; the first caller of a round fixes it (total in the window, members), later ones read it. */
  snapshot(
    round: number,
    members: readonly string[],
    windowEnd: number,
    ttlMs: number,
  ): Promise<RoundSnapshot>;
  /**
   * Claims past their lease go back to pending, and so do unplaceable conferences whose back-off is over (all of
   * them after a {@link wake}: 'capacity' wakes all, 'room' all but the too-large). Returns how many.
   */
  reclaimExpired(now: number): Promise<number>;
  /** Says room may have appeared: the next {@link reclaimExpired} (of any scheduler) retries unplaceables early. */
  wake(kind: WakeKind): Promise<void>;
  /** Takes up to `n` pending conferences in the window (earliest start first) as claims held until `leaseUntil`. */
  claim(schedulerId: string, n: number, windowEnd: number, leaseUntil: number): Promise<ConferenceRequest[]>;
  /**
   * Places claimed conferences, each on the least-loaded candidate of the lowest tier with room, atomically per
   * conference (reservation + schedule entry + epoch). A conference no candidate can take is marked unplaceable
   * with its reason and leaves the pending set until its back-off is over or room appears ({@link wake}), so it
   * cannot crowd out the conferences that can be placed. Candidates marked down are skipped.
   */
  place(
    schedulerId: string,
    conferences: readonly ConferenceRequest[],
    candidates: readonly Candidate[],
    options?: PlaceOptions,
  ): Promise<PlaceOutcome[]>;
  /**
   * Marks the server down and returns all its conferences to pending (they get a new epoch when re-placed); each
   * gets a `server-down` entry in its move history at `now`.
   */
  evacuate(serverId: string, now?: number): Promise<string[]>;
  /**
   * Moves a placed conference, atomically, off its server onto the best of `candidates` (same rule as place; its
   * current server and servers marked down are skipped) that has room: new epoch, `moves` + 1, an `operator`
   * entry in its history, reservations moved. `not-found`: unknown id; `not-placed`: not placed now;
   * `no-capacity`: no candidate can take it.
   */
  move(id: string, candidates: readonly Candidate[], now: number): Promise<MoveOutcome>;
  /** Clears the down mark: the server takes conferences again. */
  restore(serverId: string): Promise<boolean>;
  downServers(): Promise<string[]>;
  reservations(): Promise<ServerReservation[]>;
  /** Conference ids placed on the server. */
  conferencesOn(serverId: string): Promise<string[]>;
  /** Ends conferences whose schedule entry expired. Returns their ids. */
  sweepExpired(now: number, limit: number): Promise<string[]>;
  /** Keeps the scheduler's last share report for `ttlMs` (it disappears with a scheduler that stops reporting). */
  recordShare(report: ShareReport, ttlMs: number): Promise<void>;
  /** The last share reports of the given schedulers (those that have one). */
  shares(schedulerIds: readonly string[]): Promise<ShareReport[]>;
  counts(): Promise<{ pending: number; claimed: number; placed: number; unplaceable: number }>;
  /** Up to about `limit` unplaceable conferences, in no particular order (the API's view of them). */
  listUnplaceable(limit: number): Promise<ConferenceRecord[]>;
  /** Unplaceable conferences by reason (the /metrics gauge). */
  unplaceableByReason(): Promise<Record<UnplaceableReason, number>>;
}
