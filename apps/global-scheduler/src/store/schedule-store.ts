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

export interface ConferenceRecord extends ConferenceRequest {
  state: ConferenceState;
  assignment?: Assignment;
  /** Scheduler holding the claim, while claimed. */
  claimedBy?: string;
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
  | { id: string; ok: false; reason: 'no-room' | 'claim-lost' | 'already-placed' };

export interface ClaimedConference {
  request: ConferenceRequest;
}

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
  /** Claims past their lease go back to pending. Returns how many. */
  reclaimExpired(now: number): Promise<number>;
  /** Takes up to `n` pending conferences in the window (earliest start first) as claims held until `leaseUntil`. */
  claim(schedulerId: string, n: number, windowEnd: number, leaseUntil: number): Promise<ConferenceRequest[]>;
  /**
   * Places claimed conferences, each on the least-loaded candidate of the lowest tier with room, atomically per
   * conference (reservation + schedule entry + epoch). A conference with no room goes back to pending, marked
   * unplaceable. Candidates marked down are skipped. `placedAt` (ms, default 0 = not given) goes into the entry.
   */
  place(
    schedulerId: string,
    conferences: readonly ConferenceRequest[],
    candidates: readonly Candidate[],
    placedAt?: number,
  ): Promise<PlaceOutcome[]>;
  /** Marks the server down and returns all its conferences to pending (they get a new epoch when re-placed). */
  evacuate(serverId: string): Promise<string[]>;
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
}
