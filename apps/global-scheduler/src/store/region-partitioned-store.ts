/**
 * A schedule partitioned by region: one {@link RedisScheduleStore} per listed region, each under its own hash tag
 * `{<prefix>:sched:<region>}`, so on Redis Cluster the regions spread over the shards; every other region stays in
 * the default partition `{<prefix>:sched}` (the keys a single-region deployment has always used).
 *
 * A conference lives in its region's partition (its claim, its schedule entry); a server's reservations live in the
 * server's region's partition, so the capacity check of a server is always one script on one slot. Placement in the
 * conference's own partition is today's PLACE. A conference its own partition cannot take falls back to other
 * regions' partitions with reserve-then-commit (PREPARE home · RESERVE there · COMMIT home · SETTLE there, see
 * lua.ts); a crash between the steps leaves at worst a reservation the reconciler (run at every round's reclaim)
 * resolves at home, atomically: committed → confirmed, otherwise its token is fenced and the units freed. So no
 * conference is ever placed twice and no server goes over capacity; capacity held by a crashed scheduler's
 * reservation comes back after `reserveTtlMs`.
 */
import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { SchedulerError } from '../errors.js';
import { translateRedisError } from './redis-errors.js';
import { RedisScheduleStore, type ResolveVerdict } from './redis-schedule-store.js';
import {
  UNPLACEABLE_REASONS,
  type Candidate,
  type ConferenceRecord,
  type ConferenceRequest,
  type ListPage,
  type MoveOutcome,
  type PlaceOptions,
  type PlaceOutcome,
  type RoundSnapshot,
  type ScheduleStore,
  type ServerReservation,
  type ShareReport,
  type UnplaceableReason,
  type WakeKind,
} from './schedule-store.js';

export interface RegionPartitionedStoreInit {
  /** Key prefix, as {@link RedisScheduleStore}'s. Default 'sy'. */
  prefix?: string;
  /** Regions with a partition of their own (others share the default partition). */
  regions: readonly string[];
  /** Life of an unconfirmed cross-region reservation before the reconciler settles it. Default 10 000 ms. */
  reserveTtlMs?: number;
  /** How often a confirmed cross-region reservation is checked against its home (frees what ended). Default 30 000. */
  auditMs?: number;
  /** Reservations one reconciler pass settles per partition. Default 500. */
  reconcileBatch?: number;
  /** As {@link RedisScheduleStore}'s. */
  waitReplicas?: number;
  waitTimeoutMs?: number;
  /** Test hook: called after a fallback's RESERVE and before its COMMIT (a crash test kills the process here). */
  afterReserve?: () => void | Promise<void>;
}

/** Partition key of the default partition (regions without their own). */
const DEFAULT = '';
/** Cursor of `list`: partition index × this + the partition's own sequence cursor (15 digits at most). */
const CURSOR_SPAN = 1e13;

export const REGION_PARTITION_DEFAULTS = {
  // longer than a placement step takes even on a loaded machine, short enough that a crash frees capacity soon
  reserveTtlMs: 10_000,
  // a conference ended at home frees its reservation on another shard within this (the end itself frees it at once)
  auditMs: 30_000,
  // bounds one reconciler script's time
  reconcileBatch: 500,
} as const;

export class RegionPartitionedStore implements ScheduleStore {
  private readonly redis: Redis | Cluster;
  /** Partitions by key ('' = default), default first: the order of `list` pages. */
  readonly partitions: ReadonlyMap<string, RedisScheduleStore>;
  private readonly order: string[];
  private readonly dirKey: string;
  private readonly reserveTtlMs: number;
  private readonly auditMs: number;
  private readonly batch: number;

  constructor(
    components: { redis: Redis | Cluster },
    private readonly init: RegionPartitionedStoreInit,
  ) {
    this.redis = components.redis;
    const prefix = init.prefix ?? 'sy';
    const shared = {
      prefix,
      ...(init.waitReplicas === undefined ? {} : { waitReplicas: init.waitReplicas }),
      ...(init.waitTimeoutMs === undefined ? {} : { waitTimeoutMs: init.waitTimeoutMs }),
    };
    const parts = new Map<string, RedisScheduleStore>([
      [DEFAULT, new RedisScheduleStore(components, shared)],
    ]);
    for (const r of init.regions)
      if (r !== DEFAULT) parts.set(r, new RedisScheduleStore(components, { ...shared, partition: r }));
    this.partitions = parts;
    this.order = [...parts.keys()];
    // conference id → region: ids are unique across partitions, and get/end find the partition in one lookup
    this.dirKey = `{${prefix}:sched}:dir`;
    this.reserveTtlMs = init.reserveTtlMs ?? REGION_PARTITION_DEFAULTS.reserveTtlMs;
    this.auditMs = init.auditMs ?? REGION_PARTITION_DEFAULTS.auditMs;
    this.batch = init.reconcileBatch ?? REGION_PARTITION_DEFAULTS.reconcileBatch;
  }

  /** The partition key of a region. */
  partitionOf(region: string | undefined): string {
    return region !== undefined && this.partitions.has(region) ? region : DEFAULT;
  }

  private part(key: string): RedisScheduleStore {
    return this.partitions.get(key)!;
  }

  private get all(): RedisScheduleStore[] {
    return [...this.partitions.values()];
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw translateRedisError(err);
    }
  }

  private async partitionOfId(id: string): Promise<RedisScheduleStore> {
    const region = await this.call(() => this.redis.hget(this.dirKey, id));
    return this.part(this.partitionOf(region ?? undefined));
  }

  async start(): Promise<void> {
    // the Redis client is injected and owned by the caller
  }

  async stop(): Promise<void> {
    // the caller closes the client it injected
  }

  onAvailability(listener: (up: boolean, reason?: string) => void): () => void {
    return this.part(DEFAULT).onAvailability(listener);
  }

  async create(request: ConferenceRequest): Promise<ConferenceRecord> {
    const key = this.partitionOf(request.region);
    const fresh = await this.call(() => this.redis.hsetnx(this.dirKey, request.id, key));
    if (fresh === 0) {
      // a directory entry without its conference is what a crash between these two steps leaves: take it over
      const existing = await this.call(() => this.redis.hget(this.dirKey, request.id));
      if (existing !== key || (await this.part(key).get(request.id)))
        throw new SchedulerError('SCH_ERR_DUPLICATE', `conference ${request.id} already exists`);
    }
    return this.part(key).create(request);
  }

  async get(id: string): Promise<ConferenceRecord | undefined> {
    return (await this.partitionOfId(id)).get(id);
  }

  async list(cursor: string | undefined, limit: number): Promise<ListPage> {
    let idx = cursor ? Math.floor(Number(cursor) / CURSOR_SPAN) : 0;
    let inner: string | undefined = cursor ? String(Number(cursor) % CURSOR_SPAN) : undefined;
    const items: ConferenceRecord[] = [];
    for (; idx < this.order.length; idx++, inner = undefined) {
      const page = await this.part(this.order[idx]!).list(inner, limit - items.length);
      items.push(...page.items);
      if (page.next !== undefined) return { items, next: String(idx * CURSOR_SPAN + Number(page.next)) };
      if (items.length >= limit && idx + 1 < this.order.length)
        return { items, next: String((idx + 1) * CURSOR_SPAN) };
    }
    return { items };
  }

  async end(id: string): Promise<boolean> {
    const p = await this.partitionOfId(id);
    const shard = await p.placementShard(id);
    const ended = await p.end(id);
    if (!ended) return false;
    await this.call(() => this.redis.hdel(this.dirKey, id));
    // its reservation on the other shard is freed now (the audit would free it later if this step is lost)
    if (shard)
      await this.part(this.partitionOf(shard.region)).settle(
        [{ id, token: shard.token, serverId: shard.serverId, verdict: 'gone' }],
        0,
      );
    return true;
  }

  async snapshot(
    round: number,
    members: readonly string[],
    windowEnd: number,
    ttlMs: number,
  ): Promise<RoundSnapshot> {
    const snaps = await Promise.all(this.all.map((p) => p.snapshot(round, members, windowEnd, ttlMs)));
    return { round, total: snaps.reduce((a, s) => a + s.total, 0), members: snaps[0]!.members };
  }

  async reclaimExpired(now: number): Promise<number> {
    const counts = await Promise.all(this.all.map((p) => p.reclaimExpired(now)));
    await this.reconcile(now);
    return counts.reduce((a, b) => a + b, 0);
  }

  /**
   * Settles the cross-region reservations due a check: unconfirmed past their deadline (a scheduler died or was slow
   * between RESERVE and COMMIT), evicted (their server went down), confirmed and due their audit. Each is resolved
   * at its home (committed, or fenced) and then confirmed or released where it is held. Idempotent: schedulers may
   * run it at the same time. Returns how many reservations were released.
   */
  async reconcile(now: number): Promise<number> {
    let released = 0;
    for (const q of this.all) {
      const due = await q.foreignDue(now, this.batch);
      const byHome = new Map<string, typeof due>();
      for (const f of due) {
        const home = this.partitionOf(f.home);
        byHome.set(home, [...(byHome.get(home) ?? []), f]);
      }
      for (const [home, list] of byHome) {
        const verdicts = await this.part(home).resolve(
          list.map((f) => ({ id: f.id, token: f.token, serverId: f.serverId, evict: f.state === 'evicted' })),
          now,
        );
        released += await q.settle(
          list.map((f, i) => ({ id: f.id, token: f.token, serverId: f.serverId, verdict: verdicts[i]! })),
          now + this.auditMs,
        );
      }
    }
    return released;
  }

  async wake(kind: WakeKind): Promise<void> {
    await Promise.all(this.all.map((p) => p.wake(kind)));
  }

  async claim(
    schedulerId: string,
    n: number,
    windowEnd: number,
    leaseUntil: number,
  ): Promise<ConferenceRequest[]> {
    const out: ConferenceRequest[] = [];
    for (const p of this.all) {
      if (out.length >= n) break;
      out.push(...(await p.claim(schedulerId, n - out.length, windowEnd, leaseUntil)));
    }
    return out;
  }

  async place(
    schedulerId: string,
    conferences: readonly ConferenceRequest[],
    candidates: readonly Candidate[],
    options: PlaceOptions = {},
  ): Promise<PlaceOutcome[]> {
    const groups = new Map<string, ConferenceRequest[]>();
    for (const c of conferences) {
      const k = this.partitionOf(c.region);
      groups.set(k, [...(groups.get(k) ?? []), c]);
    }
    const byId = new Map<string, PlaceOutcome>();
    await Promise.all(
      [...groups].map(async ([home, list]) => {
        for (const o of await this.placeGroup(schedulerId, home, list, candidates, options))
          byId.set(o.id, o);
      }),
    );
    return conferences.map((c) => byId.get(c.id)!);
  }

  private async placeGroup(
    schedulerId: string,
    home: string,
    conferences: readonly ConferenceRequest[],
    candidates: readonly Candidate[],
    options: PlaceOptions,
  ): Promise<PlaceOutcome[]> {
    const now = options.now ?? 0;
    // candidates by the partition holding their reservations, the nearest tier first
    const byPart = new Map<string, Candidate[]>();
    for (const c of candidates) {
      const k = this.partitionOf(c.region);
      byPart.set(k, [...(byPart.get(k) ?? []), c]);
    }
    const others = [...byPart.keys()]
      .filter((k) => k !== home)
      .sort((a, b) => minTier(byPart.get(a)!) - minTier(byPart.get(b)!));
    const p = this.part(home);
    const first = await p.placeHome(
      schedulerId,
      conferences,
      byPart.get(home) ?? [],
      options,
      others.length > 0,
    );
    const out = new Map<string, PlaceOutcome>();
    const missed = new Map<string, UnplaceableReason[]>();
    for (const o of first) {
      if (!o.ok && o.reason === 'deferred') missed.set(o.id, [o.miss]);
      else out.set(o.id, o as PlaceOutcome);
    }
    let waiting = conferences.filter((c) => missed.has(c.id));
    if (waiting.length) {
      const tokens = new Map(waiting.map((c) => [c.id, `${schedulerId}:${randomUUID()}`]));
      const prepared = await p.prepare(
        schedulerId,
        waiting.map((c) => ({ id: c.id, token: tokens.get(c.id)! })),
      );
      waiting = waiting.filter((c, i) => {
        if (!prepared[i]) out.set(c.id, { id: c.id, ok: false, reason: 'claim-lost' });
        return prepared[i];
      });
      for (const q of others) {
        if (!waiting.length) break;
        waiting = await this.fallback(
          schedulerId,
          home,
          q,
          waiting,
          tokens,
          byPart.get(q)!,
          now,
          out,
          missed,
        );
      }
      const rest = await p.unplace(
        schedulerId,
        waiting.map((c) => ({ conference: c, reason: worstMiss(missed.get(c.id)!) })),
        options,
      );
      waiting.forEach((c, i) => {
        const r = rest[i]!;
        out.set(
          c.id,
          r.ok
            ? {
                id: c.id,
                ok: false,
                reason: worstMiss(missed.get(c.id)!),
                retryAt: r.retryAt,
                attempts: r.attempts,
              }
            : { id: c.id, ok: false, reason: 'claim-lost' },
        );
      });
    }
    return conferences.map((c) => out.get(c.id)!);
  }

  /** Reserve on partition `q`, commit at home, settle on `q`; returns the conferences `q` could not take. */
  private async fallback(
    schedulerId: string,
    home: string,
    q: string,
    waiting: ConferenceRequest[],
    tokens: Map<string, string>,
    candidates: Candidate[],
    now: number,
    out: Map<string, PlaceOutcome>,
    missed: Map<string, UnplaceableReason[]>,
  ): Promise<ConferenceRequest[]> {
    const there = this.part(q);
    const reserved = await there.reserve(
      waiting.map((c) => ({ id: c.id, token: tokens.get(c.id)!, units: c.expectedParticipants, home })),
      candidates,
      now + this.reserveTtlMs,
    );
    const left: ConferenceRequest[] = [];
    const toCommit: { conference: ConferenceRequest; token: string; candidate: Candidate; region: string }[] =
      [];
    waiting.forEach((c, i) => {
      const r = reserved[i]!;
      if (r.ok) toCommit.push({ conference: c, token: tokens.get(c.id)!, candidate: r.candidate, region: q });
      else {
        missed.get(c.id)!.push(r.reason);
        left.push(c);
      }
    });
    if (!toCommit.length) return left;
    await this.init.afterReserve?.();
    const committed = await this.part(home).commit(schedulerId, toCommit, now);
    const settle: { id: string; token: string; serverId: string; verdict: ResolveVerdict }[] = [];
    toCommit.forEach(({ conference: c, token, candidate }, i) => {
      const r = committed[i]!;
      settle.push({ id: c.id, token, serverId: candidate.id, verdict: r.ok ? 'placed' : 'gone' });
      out.set(
        c.id,
        r.ok
          ? {
              id: c.id,
              ok: true,
              assignment: {
                serverId: candidate.id,
                address: candidate.address,
                epoch: r.epoch,
                expiresAt: c.startAt + c.durationS * 1000,
                moves: r.moves,
                placedAt: now,
              },
            }
          : { id: c.id, ok: false, reason: 'claim-lost' },
      );
    });
    await there.settle(settle, now + this.auditMs);
    return left;
  }

  async evacuate(serverId: string, now = 0): Promise<string[]> {
    // the server's partition is not known from its id: every partition marks it down (so no shard places on it)
    // and the one holding its reservations sends its conferences back; other shards' conferences follow through
    // the reconciler at once
    const ids = (await Promise.all(this.all.map((p) => p.evacuate(serverId, now)))).flat();
    await this.reconcile(now);
    return ids;
  }

  async move(id: string, candidates: readonly Candidate[], now: number): Promise<MoveOutcome> {
    const p = await this.partitionOfId(id);
    const conf = await p.get(id);
    if (!conf) return { ok: false, reason: 'not-found' };
    // a move is one script: it stays within the conference's own partition (and not off another shard's server)
    const home = this.partitionOf(conf.region);
    if (conf.state === 'placed' && (await p.placementShard(id))) return { ok: false, reason: 'no-capacity' };
    return p.move(
      id,
      candidates.filter((c) => this.partitionOf(c.region) === home),
      now,
    );
  }

  async restore(serverId: string): Promise<boolean> {
    return (await Promise.all(this.all.map((p) => p.restore(serverId)))).some(Boolean);
  }

  async downServers(): Promise<string[]> {
    return [...new Set((await Promise.all(this.all.map((p) => p.downServers()))).flat())].sort();
  }

  async reservations(): Promise<ServerReservation[]> {
    const sum = new Map<string, ServerReservation>();
    for (const list of await Promise.all(this.all.map((p) => p.reservations())))
      for (const r of list) {
        const s = sum.get(r.serverId) ?? { serverId: r.serverId, reserved: 0, conferences: 0 };
        s.reserved += r.reserved;
        s.conferences += r.conferences;
        sum.set(r.serverId, s);
      }
    return [...sum.values()].sort((a, b) => (a.serverId < b.serverId ? -1 : 1));
  }

  async conferencesOn(serverId: string): Promise<string[]> {
    return [...new Set((await Promise.all(this.all.map((p) => p.conferencesOn(serverId)))).flat())].sort();
  }

  async sweepExpired(now: number, limit: number): Promise<string[]> {
    const ended: string[] = [];
    for (const p of this.all) {
      if (ended.length >= limit) break;
      for (const id of await p.expiredIds(now, limit - ended.length)) if (await this.end(id)) ended.push(id);
    }
    return ended;
  }

  async recordShare(report: ShareReport, ttlMs: number): Promise<void> {
    await this.part(DEFAULT).recordShare(report, ttlMs);
  }

  async shares(schedulerIds: readonly string[]): Promise<ShareReport[]> {
    return this.part(DEFAULT).shares(schedulerIds);
  }

  async counts(): Promise<{ pending: number; claimed: number; placed: number; unplaceable: number }> {
    const all = await Promise.all(this.all.map((p) => p.counts()));
    return all.reduce((a, c) => ({
      pending: a.pending + c.pending,
      claimed: a.claimed + c.claimed,
      placed: a.placed + c.placed,
      unplaceable: a.unplaceable + c.unplaceable,
    }));
  }

  async listUnplaceable(limit: number): Promise<ConferenceRecord[]> {
    const out: ConferenceRecord[] = [];
    for (const p of this.all) {
      if (out.length >= limit) break;
      out.push(...(await p.listUnplaceable(limit - out.length)));
    }
    return out;
  }

  async unplaceableByReason(): Promise<Record<UnplaceableReason, number>> {
    const all = await Promise.all(this.all.map((p) => p.unplaceableByReason()));
    const out = {} as Record<UnplaceableReason, number>;
    for (const r of UNPLACEABLE_REASONS) out[r] = all.reduce((a, x) => a + x[r], 0);
    return out;
  }
}

function minTier(list: readonly Candidate[]): number {
  return Math.min(...list.map((c) => c.tier));
}

/**
 * The reason of a conference no partition could take, as one store would give it: `no-room` when some server is
 * big enough (just full), else `too-large` when some server exists, else `no-servers`.
 */
function worstMiss(reasons: readonly UnplaceableReason[]): UnplaceableReason {
  if (reasons.includes('no-room')) return 'no-room';
  if (reasons.includes('too-large')) return 'too-large';
  return 'no-servers';
}
