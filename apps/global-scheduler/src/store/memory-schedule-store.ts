/**
 * The schedule store in process memory, for `--store memory` (one scheduler, no Redis) and for tests of the
 * logic above the store. Same semantics as the Redis store; every method runs to completion without awaiting, so
 * each is atomic in the single-threaded event loop.
 */
import { SchedulerError } from '../errors.js';
import { pickServer } from './pick.js';
import {
  MOVE_HISTORY_MAX,
  PLACE_DEFAULTS,
  type MoveEntry,
  type MoveOutcome,
  UNPLACEABLE_REASONS,
  type PlaceOptions,
  type Unplaceable,
  type UnplaceableReason,
  type WakeKind,
} from './schedule-store.js';
import type {
  Assignment,
  Candidate,
  ConferenceRecord,
  ConferenceRequest,
  ListPage,
  PlaceOutcome,
  RoundSnapshot,
  ScheduleStore,
  ServerReservation,
  ShareReport,
} from './schedule-store.js';

export class MemoryScheduleStore implements ScheduleStore {
  private readonly confs = new Map<string, { request: ConferenceRequest; seq: number }>();
  private seq = 0;
  private epoch = 0;
  private readonly pending = new Map<string, number>(); // id -> startAt
  private readonly claims = new Map<string, { by: string; until: number }>();
  private readonly schedule = new Map<string, Assignment>();
  private readonly reserved = new Map<string, number>();
  private readonly on = new Map<string, Set<string>>();
  private readonly down = new Set<string>();
  /** Unplaceable conferences, with their reason and retry time (also while back in pending for a retry). */
  private readonly unplaceable = new Map<string, Unplaceable>();
  /** Unplaceable conferences waiting out their back-off (out of pending): id → retryAt. */
  private readonly backoff = new Map<string, number>();
  private wakeFlag: WakeKind | undefined;
  private readonly moves = new Map<string, number>();
  private readonly history = new Map<string, MoveEntry[]>();
  private readonly rounds = new Map<number, RoundSnapshot>();
  private readonly shareReports = new Map<string, ShareReport>();

  async start(): Promise<void> {
    // nothing to open: the state lives in this object
  }
  async stop(): Promise<void> {
    // nothing to close
  }

  async create(request: ConferenceRequest): Promise<ConferenceRecord> {
    if (this.confs.has(request.id))
      throw new SchedulerError('SCH_ERR_DUPLICATE', `conference ${request.id} already exists`);
    this.confs.set(request.id, { request: { ...request }, seq: ++this.seq });
    this.pending.set(request.id, request.startAt);
    return { ...request, state: 'pending' };
  }

  async get(id: string): Promise<ConferenceRecord | undefined> {
    return this.record(id);
  }

  private record(id: string): ConferenceRecord | undefined {
    const c = this.confs.get(id);
    if (!c) return undefined;
    const h = this.history.get(id);
    const request = h?.length ? { ...c.request, history: h.map((e) => ({ ...e })) } : c.request;
    const a = this.schedule.get(id);
    if (a) return { ...request, state: 'placed', assignment: { ...a } };
    const u = this.unplaceable.get(id);
    const info = u ? { unplaceable: { ...u } } : {};
    const claim = this.claims.get(id);
    if (claim) return { ...request, ...info, state: 'claimed', claimedBy: claim.by };
    return { ...request, ...info, state: u ? 'unplaceable' : 'pending' };
  }

  async list(cursor: string | undefined, limit: number): Promise<ListPage> {
    const after = cursor ? Number(cursor) : 0;
    const rows = [...this.confs.values()].filter((c) => c.seq > after).sort((a, b) => a.seq - b.seq);
    const page = rows.slice(0, limit);
    const items = page.map((c) => this.record(c.request.id)!);
    return rows.length > limit ? { items, next: String(page[page.length - 1]!.seq) } : { items };
  }

  async end(id: string): Promise<boolean> {
    if (!this.confs.has(id)) return false;
    if (this.unassign(id) && this.wakeFlag === undefined) this.wakeFlag = 'room';
    this.confs.delete(id);
    this.pending.delete(id);
    this.claims.delete(id);
    this.unplaceable.delete(id);
    this.backoff.delete(id);
    this.moves.delete(id);
    this.history.delete(id);
    return true;
  }

  private pushHistory(id: string, entry: MoveEntry): void {
    const list = [...(this.history.get(id) ?? []), entry];
    this.history.set(id, list.slice(-MOVE_HISTORY_MAX));
  }

  private unassign(id: string): Assignment | undefined {
    const a = this.schedule.get(id);
    if (!a) return undefined;
    this.schedule.delete(id);
    const units = this.confs.get(id)?.request.expectedParticipants ?? 0;
    const left = (this.reserved.get(a.serverId) ?? 0) - units;
    // like the Redis store: a server holding nothing has no reservation entry
    if (left > 0) this.reserved.set(a.serverId, left);
    else this.reserved.delete(a.serverId);
    const set = this.on.get(a.serverId);
    set?.delete(id);
    if (set?.size === 0) this.on.delete(a.serverId);
    return a;
  }

  async snapshot(round: number, members: readonly string[], windowEnd: number): Promise<RoundSnapshot> {
    const have = this.rounds.get(round);
    if (have) return { ...have, members: [...have.members] };
    let total = 0;
    for (const startAt of this.pending.values()) if (startAt <= windowEnd) total++;
    const snap = { round, total, members: [...members] };
    this.rounds.set(round, snap);
    for (const r of this.rounds.keys()) if (r < round - 10) this.rounds.delete(r);
    return { ...snap, members: [...members] };
  }

  async reclaimExpired(now: number): Promise<number> {
    let n = 0;
    for (const [id, c] of this.claims) {
      if (c.until > now) continue;
      this.claims.delete(id);
      this.pending.set(id, this.confs.get(id)!.request.startAt);
      n++;
    }
    const wake = this.wakeFlag;
    this.wakeFlag = undefined;
    for (const [id, retryAt] of this.backoff) {
      const u = this.unplaceable.get(id);
      const due = retryAt <= now || wake === 'capacity' || (wake === 'room' && u?.reason !== 'too-large');
      if (!due) continue;
      this.backoff.delete(id);
      this.pending.set(id, this.confs.get(id)!.request.startAt);
      n++;
    }
    return n;
  }

  async wake(kind: WakeKind): Promise<void> {
    if (kind === 'capacity' || this.wakeFlag === undefined) this.wakeFlag = kind;
  }

  async claim(
    schedulerId: string,
    n: number,
    windowEnd: number,
    leaseUntil: number,
  ): Promise<ConferenceRequest[]> {
    if (n <= 0) return [];
    const due = [...this.pending].filter(([, s]) => s <= windowEnd);
    due.sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const out: ConferenceRequest[] = [];
    for (const [id] of due.slice(0, n)) {
      this.pending.delete(id);
      this.claims.set(id, { by: schedulerId, until: leaseUntil });
      out.push({ ...this.confs.get(id)!.request });
    }
    return out;
  }

  async place(
    schedulerId: string,
    conferences: readonly ConferenceRequest[],
    candidates: readonly Candidate[],
    options: PlaceOptions = {},
  ): Promise<PlaceOutcome[]> {
    const now = options.now ?? 0;
    const backoffMs = options.backoffMs ?? PLACE_DEFAULTS.backoffMs;
    const backoffMaxMs = options.backoffMaxMs ?? PLACE_DEFAULTS.backoffMaxMs;
    let maxCap = 0;
    for (const c of candidates) if (!this.down.has(c.id)) maxCap = Math.max(maxCap, c.capacity);
    const out: PlaceOutcome[] = [];
    for (const req of conferences) {
      const claim = this.claims.get(req.id);
      if (!claim || claim.by !== schedulerId) {
        out.push({ id: req.id, ok: false, reason: 'claim-lost' });
        continue;
      }
      if (this.schedule.has(req.id)) {
        this.claims.delete(req.id);
        out.push({ id: req.id, ok: false, reason: 'already-placed' });
        continue;
      }
      const units = req.expectedParticipants;
      const best = pickServer(
        candidates,
        units,
        (id) => this.down.has(id),
        (id) => this.reserved.get(id) ?? 0,
      );
      this.claims.delete(req.id);
      if (!best) {
        const reason: UnplaceableReason =
          maxCap <= 0 ? 'no-servers' : units > maxCap ? 'too-large' : 'no-room';
        const attempts = (this.unplaceable.get(req.id)?.attempts ?? 0) + 1;
        const retryAt = now + Math.min(backoffMaxMs, backoffMs * 2 ** Math.min(attempts - 1, 30));
        this.unplaceable.set(req.id, { reason, attempts, retryAt });
        this.backoff.set(req.id, retryAt);
        out.push({ id: req.id, ok: false, reason, retryAt, attempts });
        continue;
      }
      const a: Assignment = {
        serverId: best.id,
        address: best.address,
        epoch: ++this.epoch,
        expiresAt: req.startAt + req.durationS * 1000,
        moves: this.moves.get(req.id) ?? 0,
        placedAt: now,
      };
      this.assign(req.id, a, units);
      this.unplaceable.delete(req.id);
      this.backoff.delete(req.id);
      out.push({ id: req.id, ok: true, assignment: { ...a } });
    }
    return out;
  }

  async move(id: string, candidates: readonly Candidate[], now: number): Promise<MoveOutcome> {
    const conf = this.confs.get(id);
    if (!conf) return { ok: false, reason: 'not-found' };
    const a = this.schedule.get(id);
    if (!a) return { ok: false, reason: 'not-placed' };
    const units = conf.request.expectedParticipants;
    const best = pickServer(
      candidates.filter((c) => c.id !== a.serverId),
      units,
      (sid) => this.down.has(sid),
      (sid) => this.reserved.get(sid) ?? 0,
    );
    if (!best) return { ok: false, reason: 'no-capacity' };
    this.unassign(id);
    const moves = (this.moves.get(id) ?? 0) + 1;
    this.moves.set(id, moves);
    const next: Assignment = {
      ...a,
      serverId: best.id,
      address: best.address,
      epoch: ++this.epoch,
      moves,
      placedAt: now,
    };
    this.assign(id, next, units);
    this.pushHistory(id, { from: a.serverId, to: best.id, epoch: next.epoch, at: now, reason: 'operator' });
    return { ok: true, from: a.serverId, assignment: { ...next } };
  }

  private assign(id: string, a: Assignment, units: number): void {
    this.schedule.set(id, a);
    this.reserved.set(a.serverId, (this.reserved.get(a.serverId) ?? 0) + units);
    let set = this.on.get(a.serverId);
    if (!set) this.on.set(a.serverId, (set = new Set()));
    set.add(id);
  }

  async evacuate(serverId: string, now = 0): Promise<string[]> {
    this.down.add(serverId);
    const ids = [...(this.on.get(serverId) ?? [])];
    for (const id of ids) {
      this.pushHistory(id, { from: serverId, at: now, reason: 'server-down' });
      this.unassign(id);
      this.moves.set(id, (this.moves.get(id) ?? 0) + 1);
      this.pending.set(id, this.confs.get(id)!.request.startAt);
    }
    this.on.delete(serverId);
    this.reserved.delete(serverId);
    return ids;
  }

  async restore(serverId: string): Promise<boolean> {
    return this.down.delete(serverId);
  }

  async downServers(): Promise<string[]> {
    return [...this.down].sort();
  }

  async reservations(): Promise<ServerReservation[]> {
    const ids = new Set([...this.reserved.keys(), ...this.on.keys()]);
    return [...ids].sort().map((serverId) => ({
      serverId,
      reserved: this.reserved.get(serverId) ?? 0,
      conferences: this.on.get(serverId)?.size ?? 0,
    }));
  }

  async conferencesOn(serverId: string): Promise<string[]> {
    return [...(this.on.get(serverId) ?? [])].sort();
  }

  async sweepExpired(now: number, limit: number): Promise<string[]> {
    const ids: string[] = [];
    for (const [id, a] of this.schedule) {
      if (ids.length >= limit) break;
      if (a.expiresAt <= now) ids.push(id);
    }
    for (const id of ids) await this.end(id);
    return ids;
  }

  async recordShare(report: ShareReport): Promise<void> {
    // one process, one scheduler: no expiry needed, the entry is replaced every round
    this.shareReports.set(report.schedulerId, { ...report });
  }

  async shares(schedulerIds: readonly string[]): Promise<ShareReport[]> {
    return schedulerIds.flatMap((id) => {
      const r = this.shareReports.get(id);
      return r ? [{ ...r }] : [];
    });
  }

  async listUnplaceable(limit: number): Promise<ConferenceRecord[]> {
    return [...this.unplaceable.keys()].slice(0, limit).map((id) => this.record(id)!);
  }

  async unplaceableByReason(): Promise<Record<UnplaceableReason, number>> {
    const out = Object.fromEntries(UNPLACEABLE_REASONS.map((r) => [r, 0])) as Record<
      UnplaceableReason,
      number
    >;
    for (const u of this.unplaceable.values()) out[u.reason]++;
    return out;
  }

  async counts(): Promise<{ pending: number; claimed: number; placed: number; unplaceable: number }> {
    return {
      pending: this.pending.size,
      claimed: this.claims.size,
      placed: this.schedule.size,
      unplaceable: this.unplaceable.size,
    };
  }
}
