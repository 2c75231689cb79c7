/**
 * The schedule store on Redis, shared by every scheduler of a cluster. Keys (all under one hash tag, so every
 * script touches one slot) are listed in docs/global-scheduler.md with their type and lifetime. Every multi-key
 * change is one Lua script, so two schedulers can never place the same conference or overfill a server.
 */
import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { SchedulerError } from '../errors.js';
import {
  CLAIM,
  COMMIT,
  CREATE,
  END,
  EVACUATE,
  MOVE,
  PLACE,
  PREPARE,
  RECLAIM,
  RESERVE,
  RESOLVE,
  SETTLE,
  SNAPSHOT,
  UNPLACE,
  WAKE,
} from './lua.js';
import { replyCode, translateRedisError } from './redis-errors.js';
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

export interface RedisScheduleStoreInit {
  /** Key prefix; the hash tag is `{<prefix>:sched}`. Default 'sy'. */
  prefix?: string;
  /**
   * The region partition these keys hold (region-partitioned schedules): the hash tag becomes
   * `{<prefix>:sched:<partition>}`, so each region's schedule lands on its own slot. Absent: `{<prefix>:sched}`.
   */
  partition?: string;
  /**
   * After each script that changes what a client was told (CREATE, PLACE, MOVE, END, EVACUATE), `WAIT` for this
   * many replicas to acknowledge it before answering (sent in the same pipeline, so it goes to the slot's master
   * on a Cluster too). 0 (default): no WAIT, asynchronous replication (see the loss bound in the docs).
   */
  waitReplicas?: number;
  /** Longest WAIT, ms; a WAIT that times out short is counted in `waitShortfalls`, the write stands. Default 100. */
  waitTimeoutMs?: number;
}

interface StoredAssignment extends Assignment {
  units: number;
  startAt: number;
  /** Set when the reservation lives on another region's shard: the transfer token it was committed under. */
  resv?: string;
  /** That shard's region partition. */
  resvRegion?: string;
}

/** What the home shard's PLACE answered for a conference when misses are deferred to other regions' shards. */
export type HomePlaceOutcome =
  PlaceOutcome | { id: string; ok: false; reason: 'deferred'; miss: UnplaceableReason };

/** A reservation held for a conference of another region's shard (`foreign` HASH, field = conference id). */
export interface ForeignReservation {
  id: string;
  token: string;
  /** The conference's home partition. */
  home: string;
  serverId: string;
  units: number;
  state: 'reserved' | 'confirmed' | 'evicted';
}

/** The home shard's verdict on a reservation held elsewhere. */
export type ResolveVerdict = 'placed' | 'gone' | 'evicted';

/** Most unplaceable conferences one reclaim sends back to pending (bounds one script's time). */
const WAKE_LIMIT = 10_000;

export class RedisScheduleStore implements ScheduleStore {
  private readonly redis: Redis | Cluster;
  private readonly k: {
    conf: string;
    index: string;
    seq: string;
    pending: string;
    claims: string;
    claimer: string;
    sched: string;
    reserved: string;
    down: string;
    epoch: string;
    expiry: string;
    unplaceable: string;
    moves: string;
    count: string;
    ucount: string;
    backoff: string;
    wake: string;
    history: string;
    xfer: string;
    foreign: string;
    fcheck: string;
  };
  private readonly tag: string;
  private readonly shas = new Map<string, string>();
  /** Redis commands sent (a script or a pipeline counts once per command inside it): the bench's round trips. */
  roundTrips = 0;
  /** WAITs that returned fewer replicas than asked (the write is on the master only, or on fewer replicas). */
  waitShortfalls = 0;
  private readonly waitReplicas: number;
  private readonly waitTimeoutMs: number;

  constructor(components: { redis: Redis | Cluster }, init: RedisScheduleStoreInit = {}) {
    this.redis = components.redis;
    this.tag = `{${init.prefix ?? 'sy'}:sched${init.partition === undefined ? '' : `:${init.partition}`}}`;
    this.waitReplicas = init.waitReplicas ?? 0;
    this.waitTimeoutMs = init.waitTimeoutMs ?? 100;
    const key = (s: string) => `${this.tag}:${s}`;
    this.k = {
      conf: key('conf'),
      index: key('index'),
      seq: key('seq'),
      pending: key('pending'),
      claims: key('claims'),
      claimer: key('claimer'),
      sched: key('sched'),
      reserved: key('reserved'),
      down: key('down'),
      epoch: key('epoch'),
      expiry: key('expiry'),
      unplaceable: key('unplaceable'),
      moves: key('moves'),
      count: key('count'),
      ucount: key('ucount'),
      backoff: key('backoff'),
      wake: key('wake'),
      history: key('history'),
      xfer: key('xfer'),
      foreign: key('foreign'),
      fcheck: key('fcheck'),
    };
  }

  private onKey(serverId: string): string {
    return `${this.tag}:on:${serverId}`;
  }

  private roundKey(round: number): string {
    return `${this.tag}:round:${round}`;
  }

  async start(): Promise<void> {
    // nothing to open: the Redis client is injected and owned by the caller
  }

  onAvailability(listener: (up: boolean, reason?: string) => void): () => void {
    const up = () => listener(true);
    const down = () => listener(false, `redis connection ${this.redis.status}`);
    this.redis.on('ready', up);
    this.redis.on('close', down);
    this.redis.on('end', down);
    if (this.redis.status !== 'ready') down();
    return () => {
      this.redis.off('ready', up);
      this.redis.off('close', down);
      this.redis.off('end', down);
    };
  }
  async stop(): Promise<void> {
    // the caller closes the client it injected
  }

  /**
   * EVALSHA, loading the script again when Redis lost it (e.g. after a restart). `durable`: a script whose effect a
   * client is told about; with `waitReplicas` it is followed by WAIT in the same pipeline.
   */
  private async run(
    script: string,
    keys: string[],
    args: (string | number)[],
    durable = false,
  ): Promise<unknown> {
    let sha = this.shas.get(script);
    if (!sha) {
      sha = createHash('sha1').update(script).digest('hex');
      this.shas.set(script, sha);
    }
    if (durable && this.waitReplicas > 0) return this.call(() => this.runAndWait(sha, script, keys, args));
    return this.call(async () => {
      this.roundTrips++;
      try {
        return await this.redis.evalsha(sha, keys.length, ...keys, ...args);
      } catch (err) {
        if (replyCode(err) !== 'NOSCRIPT') throw err;
        this.roundTrips++;
        return await this.redis.eval(script, keys.length, ...keys, ...args);
      }
    });
  }

  private async runAndWait(
    sha: string,
    script: string,
    keys: string[],
    args: (string | number)[],
  ): Promise<unknown> {
    const once = async (byBody: boolean) => {
      this.roundTrips += 2;
      const p = this.redis.pipeline();
      if (byBody) p.eval(script, keys.length, ...keys, ...args);
      else p.evalsha(sha, keys.length, ...keys, ...args);
      // no key: in a Cluster pipeline it goes to the node of the script's slot, i.e. the master that just wrote
      p.call('WAIT', this.waitReplicas, this.waitTimeoutMs);
      const res = await p.exec();
      if (!res) throw new SchedulerError('SCH_ERR_STORE_UNAVAILABLE', 'redis pipeline aborted');
      return res;
    };
    let res = await once(false);
    if (res[0]![0] && replyCode(res[0]![0]) === 'NOSCRIPT') res = await once(true);
    const [err, value] = res[0]!;
    if (err) throw err;
    const [waitErr, acked] = res[1]!;
    if (waitErr || Number(acked) < this.waitReplicas) this.waitShortfalls++;
    return value;
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw translateRedisError(err);
    }
  }

  async create(request: ConferenceRequest): Promise<ConferenceRecord> {
    const r = await this.run(
      CREATE,
      [this.k.conf, this.k.index, this.k.seq, this.k.pending],
      [request.id, JSON.stringify(request), request.startAt],
      true,
    );
    if (Number(r) === 0)
      throw new SchedulerError('SCH_ERR_DUPLICATE', `conference ${request.id} already exists`);
    return { ...request, state: 'pending' };
  }

  async get(id: string): Promise<ConferenceRecord | undefined> {
    return (await this.getMany([id]))[0];
  }

  private async getMany(ids: string[]): Promise<(ConferenceRecord | undefined)[]> {
    if (ids.length === 0) return [];
    const res = await this.call(async () => {
      this.roundTrips++;
      return this.redis
        .multi()
        .hmget(this.k.conf, ...ids)
        .hmget(this.k.sched, ...ids)
        .hmget(this.k.claimer, ...ids)
        .hmget(this.k.unplaceable, ...ids)
        .hmget(this.k.history, ...ids)
        .exec();
    });
    if (!res) throw new SchedulerError('SCH_ERR_STORE_UNAVAILABLE', 'redis transaction aborted');
    for (const [err] of res) if (err) throw translateRedisError(err);
    const confs = res[0]![1] as (string | null)[];
    const scheds = res[1]![1] as (string | null)[];
    const claimers = res[2]![1] as (string | null)[];
    const unplaceable = res[3]![1] as (string | null)[];
    const histories = res[4]![1] as (string | null)[];
    return ids.map((_, i) => {
      const c = confs[i];
      if (!c) return undefined;
      const request: ConferenceRecord = JSON.parse(c) as ConferenceRecord;
      const h = histories[i];
      // cjson writes an empty Lua table as {}: only a non-empty array is a history
      const history = h ? (JSON.parse(h) as unknown) : undefined;
      if (Array.isArray(history) && history.length > 0) request.history = history as MoveEntry[];
      const s = scheds[i];
      if (s)
        return {
          ...request,
          state: 'placed',
          assignment: publicAssignment(JSON.parse(s) as StoredAssignment),
        };
      const u = unplaceable[i];
      const info = u ? { unplaceable: publicUnplaceable(JSON.parse(u) as Unplaceable) } : {};
      const by = claimers[i];
      if (by) return { ...request, ...info, state: 'claimed', claimedBy: by.slice(0, by.lastIndexOf('|')) };
      return { ...request, ...info, state: u ? 'unplaceable' : 'pending' };
    });
  }

  async list(cursor: string | undefined, limit: number): Promise<ListPage> {
    const after = cursor ? `(${Number(cursor)}` : '-inf';
    const rows = await this.call(() => {
      this.roundTrips++;
      return this.redis.zrangebyscore(this.k.index, after, '+inf', 'WITHSCORES', 'LIMIT', 0, limit + 1);
    });
    const ids: string[] = [];
    const seqs: string[] = [];
    for (let i = 0; i < rows.length; i += 2) {
      ids.push(rows[i]!);
      seqs.push(rows[i + 1]!);
    }
    const more = ids.length > limit;
    const pageIds = ids.slice(0, limit);
    const items = (await this.getMany(pageIds)).filter((r): r is ConferenceRecord => r !== undefined);
    return more ? { items, next: seqs[limit - 1]! } : { items };
  }

  async end(id: string): Promise<boolean> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const a = await this.call(() => {
        this.roundTrips++;
        return this.redis.hget(this.k.sched, id);
      });
      const serverId = a ? (JSON.parse(a) as StoredAssignment).serverId : '';
      const r = Number(
        await this.run(
          END,
          [
            this.k.conf,
            this.k.index,
            this.k.pending,
            this.k.claims,
            this.k.claimer,
            this.k.sched,
            this.k.reserved,
            this.k.expiry,
            this.k.unplaceable,
            this.k.moves,
            this.onKey(serverId),
            this.k.count,
            this.k.ucount,
            this.k.backoff,
            this.k.wake,
            this.k.history,
          ],
          [id, serverId],
          true,
        ),
      );
      if (r >= 0) return r === 1;
    }
    throw new SchedulerError(
      'SCH_ERR_STORE_UNAVAILABLE',
      `conference ${id} kept moving while being ended; retry`,
    );
  }

  async snapshot(
    round: number,
    members: readonly string[],
    windowEnd: number,
    ttlMs: number,
  ): Promise<RoundSnapshot> {
    const v = await this.run(
      SNAPSHOT,
      [this.roundKey(round), this.k.pending],
      [windowEnd, JSON.stringify(members), ttlMs],
    );
    const parsed = JSON.parse(String(v)) as { total: number; members: string[] };
    return { round, total: parsed.total, members: parsed.members };
  }

  async reclaimExpired(now: number): Promise<number> {
    return Number(
      await this.run(
        RECLAIM,
        [
          this.k.claims,
          this.k.claimer,
          this.k.pending,
          this.k.backoff,
          this.k.unplaceable,
          this.k.wake,
          this.k.xfer,
        ],
        [now, WAKE_LIMIT],
      ),
    );
  }

  async wake(kind: WakeKind): Promise<void> {
    await this.run(WAKE, [this.k.wake], [kind]);
  }

  async claim(
    schedulerId: string,
    n: number,
    windowEnd: number,
    leaseUntil: number,
  ): Promise<ConferenceRequest[]> {
    if (n <= 0) return [];
    const rows = (await this.run(
      CLAIM,
      [this.k.pending, this.k.claims, this.k.claimer, this.k.conf],
      [n, windowEnd, leaseUntil, schedulerId],
    )) as (string | null)[];
    return rows.filter((r): r is string => !!r).map((r) => JSON.parse(r) as ConferenceRequest);
  }

  async place(
    schedulerId: string,
    conferences: readonly ConferenceRequest[],
    candidates: readonly Candidate[],
    options: PlaceOptions = {},
  ): Promise<PlaceOutcome[]> {
    return (await this.placeHome(schedulerId, conferences, candidates, options, false)) as PlaceOutcome[];
  }

  /**
   * PLACE on this shard. `deferMisses`: a conference no candidate here takes keeps its claim and answers
   * `deferred` with the reason it missed here, for a fallback to another region's shard.
   */
  async placeHome(
    schedulerId: string,
    conferences: readonly ConferenceRequest[],
    candidates: readonly Candidate[],
    options: PlaceOptions,
    deferMisses: boolean,
  ): Promise<HomePlaceOutcome[]> {
    if (conferences.length === 0) return [];
    const now = options.now ?? 0;
    const keys = [
      this.k.claims,
      this.k.claimer,
      this.k.sched,
      this.k.reserved,
      this.k.down,
      this.k.epoch,
      this.k.expiry,
      this.k.unplaceable,
      this.k.pending,
      this.k.moves,
      this.k.count,
      this.k.ucount,
      this.k.backoff,
      ...candidates.map((c) => this.onKey(c.id)),
    ];
    const args: (string | number)[] = [
      schedulerId,
      conferences.length,
      candidates.length,
      now,
      options.backoffMs ?? PLACE_DEFAULTS.backoffMs,
      options.backoffMaxMs ?? PLACE_DEFAULTS.backoffMaxMs,
      deferMisses ? '1' : '0',
    ];
    // one packed argument for the conferences (see PLACE) unless an id holds its separators
    let packed = '';
    for (const c of conferences) {
      if (c.id.includes(' ') || c.id.includes('\n')) {
        packed = '';
        break;
      }
      packed += `${c.id} ${c.expectedParticipants} ${c.startAt} ${c.durationS * 1000}\n`;
    }
    if (packed) args.push('1', packed);
    else {
      args.push('0');
      for (const c of conferences) args.push(c.id, c.expectedParticipants, c.startAt, c.durationS * 1000);
    }
    for (const c of candidates) args.push(c.id, c.address, c.capacity, c.load, c.tier);
    const r = (await this.run(PLACE, keys, args, true)) as number[];
    return conferences.map((c, i): HomePlaceOutcome => {
      const status = r[i * 4]!;
      if (status === 2)
        return { id: c.id, ok: false, reason: 'deferred', miss: UNPLACEABLE_STATUS.get(r[i * 4 + 1]!)! };
      if (status === 1) {
        const cand = candidates[r[i * 4 + 1]! - 1]!;
        return {
          id: c.id,
          ok: true,
          assignment: {
            serverId: cand.id,
            address: cand.address,
            epoch: r[i * 4 + 2]!,
            expiresAt: c.startAt + c.durationS * 1000,
            moves: r[i * 4 + 3]!,
            placedAt: now,
          },
        };
      }
      const unplaceable = UNPLACEABLE_STATUS.get(status);
      if (unplaceable)
        return { id: c.id, ok: false, reason: unplaceable, retryAt: r[i * 4 + 1]!, attempts: r[i * 4 + 2]! };
      return { id: c.id, ok: false, reason: status === -1 ? 'claim-lost' : 'already-placed' };
    });
  }

  async move(id: string, candidates: readonly Candidate[], now: number): Promise<MoveOutcome> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const a = await this.call(() => {
        this.roundTrips++;
        return this.redis.hget(this.k.sched, id);
      });
      const from = a ? (JSON.parse(a) as StoredAssignment).serverId : '';
      const args: (string | number)[] = [id, from, now, candidates.length, MOVE_HISTORY_MAX];
      for (const c of candidates) args.push(c.id, c.address, c.capacity, c.load, c.tier);
      const r = (await this.run(
        MOVE,
        [
          this.k.conf,
          this.k.sched,
          this.k.reserved,
          this.k.down,
          this.k.epoch,
          this.k.moves,
          this.k.count,
          this.k.history,
          this.onKey(from),
          ...candidates.map((c) => this.onKey(c.id)),
        ],
        args,
        true,
      )) as number[];
      const status = r[0]!;
      if (status === 1) {
        const stored = JSON.parse(a!) as StoredAssignment;
        const cand = candidates[r[1]! - 1]!;
        return {
          ok: true,
          from,
          assignment: {
            serverId: cand.id,
            address: cand.address,
            epoch: r[2]!,
            expiresAt: stored.expiresAt,
            moves: r[3]!,
            placedAt: now,
          },
        };
      }
      if (status === 0) return { ok: false, reason: 'not-found' };
      if (status === -2) return { ok: false, reason: 'not-placed' };
      if (status === -3) return { ok: false, reason: 'no-capacity' };
    }
    throw new SchedulerError(
      'SCH_ERR_STORE_UNAVAILABLE',
      `conference ${id} kept moving while being moved; retry`,
    );
  }

  async evacuate(serverId: string, now = 0): Promise<string[]> {
    return (await this.run(
      EVACUATE,
      [
        this.k.down,
        this.onKey(serverId),
        this.k.sched,
        this.k.reserved,
        this.k.expiry,
        this.k.pending,
        this.k.moves,
        this.k.count,
        this.k.history,
        this.k.foreign,
        this.k.fcheck,
      ],
      [serverId, now, MOVE_HISTORY_MAX],
      true,
    )) as string[];
  }

  async restore(serverId: string): Promise<boolean> {
    return (
      (await this.call(() => {
        this.roundTrips++;
        return this.redis.srem(this.k.down, serverId);
      })) === 1
    );
  }

  async downServers(): Promise<string[]> {
    return (await this.call(() => this.redis.smembers(this.k.down))).sort();
  }

  async reservations(): Promise<ServerReservation[]> {
    const res = await this.call(async () => {
      this.roundTrips++;
      return this.redis.multi().hgetall(this.k.reserved).hgetall(this.k.count).exec();
    });
    const reserved = (res?.[0]?.[1] ?? {}) as Record<string, string>;
    const count = (res?.[1]?.[1] ?? {}) as Record<string, string>;
    const ids = [...new Set([...Object.keys(reserved), ...Object.keys(count)])].sort();
    return ids.map((serverId) => ({
      serverId,
      reserved: Number(reserved[serverId] ?? 0),
      conferences: Number(count[serverId] ?? 0),
    }));
  }

  async conferencesOn(serverId: string): Promise<string[]> {
    return (await this.call(() => this.redis.smembers(this.onKey(serverId)))).sort();
  }

  /** Conferences whose schedule entry expired by `now` (at most `limit`). */
  async expiredIds(now: number, limit: number): Promise<string[]> {
    return this.call(() => this.redis.zrangebyscore(this.k.expiry, '-inf', now, 'LIMIT', 0, limit));
  }

  async sweepExpired(now: number, limit: number): Promise<string[]> {
    const ids = await this.expiredIds(now, limit);
    const ended: string[] = [];
    for (const id of ids) if (await this.end(id)) ended.push(id);
    return ended;
  }

  async recordShare(report: ShareReport, ttlMs: number): Promise<void> {
    await this.call(() => {
      this.roundTrips++;
      return this.redis.set(this.shareKey(report.schedulerId), JSON.stringify(report), 'PX', ttlMs);
    });
  }

  async shares(schedulerIds: readonly string[]): Promise<ShareReport[]> {
    if (schedulerIds.length === 0) return [];
    const all = await this.call(() => this.redis.mget(...schedulerIds.map((id) => this.shareKey(id))));
    return all.filter((v): v is string => !!v).map((v) => JSON.parse(v) as ShareReport);
  }

  private shareKey(schedulerId: string): string {
    return `${this.tag}:share:${schedulerId}`;
  }

  async listUnplaceable(limit: number): Promise<ConferenceRecord[]> {
    const [, flat] = await this.call(() => this.redis.hscan(this.k.unplaceable, '0', 'COUNT', limit));
    const ids: string[] = [];
    for (let i = 0; i < flat.length && ids.length < limit; i += 2) ids.push(flat[i]!);
    return (await this.getMany(ids)).filter((r): r is ConferenceRecord => r !== undefined);
  }

  async unplaceableByReason(): Promise<Record<UnplaceableReason, number>> {
    const raw = (await this.call(() => this.redis.hgetall(this.k.ucount))) as Record<string, string>;
    const out = {} as Record<UnplaceableReason, number>;
    for (const r of UNPLACEABLE_REASONS) out[r] = Math.max(0, Number(raw[r] ?? 0));
    return out;
  }

  // ——— cross-region fallback on a partitioned schedule (protocol in lua.ts and docs/global-scheduler.md) ———

  /** Home shard: gives each still-claimed, unplaced conference its transfer token. True per conference when set. */
  async prepare(schedulerId: string, items: readonly { id: string; token: string }[]): Promise<boolean[]> {
    if (items.length === 0) return [];
    const args: (string | number)[] = [schedulerId, items.length];
    for (const x of items) args.push(x.id, x.token);
    const r = (await this.run(PREPARE, [this.k.claimer, this.k.sched, this.k.xfer], args)) as number[];
    return r.map((v) => v === 1);
  }

  /**
   * Server shard: reserves each conference on its best candidate with room, unconfirmed until `deadline`. Per
   * conference: the chosen candidate, or the reason none could take it.
   */
  async reserve(
    items: readonly { id: string; token: string; units: number; home: string }[],
    candidates: readonly Candidate[],
    deadline: number,
  ): Promise<({ ok: true; candidate: Candidate } | { ok: false; reason: UnplaceableReason })[]> {
    if (items.length === 0) return [];
    const args: (string | number)[] = [items.length, candidates.length, deadline];
    for (const x of items) args.push(x.id, x.token, x.units, x.home);
    for (const c of candidates) args.push(c.id, c.address, c.capacity, c.load, c.tier);
    const r = (await this.run(
      RESERVE,
      [
        this.k.reserved,
        this.k.down,
        this.k.count,
        this.k.foreign,
        this.k.fcheck,
        ...candidates.map((c) => this.onKey(c.id)),
      ],
      args,
      true,
    )) as number[];
    return items.map((_, i) =>
      r[i * 2] === 1
        ? { ok: true as const, candidate: candidates[r[i * 2 + 1]! - 1]! }
        : { ok: false as const, reason: UNPLACEABLE_STATUS.get(r[i * 2]!)! },
    );
  }

  /** Home shard: writes the schedule entries of conferences reserved on `region`'s shard (see COMMIT). */
  async commit(
    schedulerId: string,
    items: readonly { conference: ConferenceRequest; token: string; candidate: Candidate; region: string }[],
    now: number,
  ): Promise<({ ok: true; epoch: number; moves: number } | { ok: false })[]> {
    if (items.length === 0) return [];
    const args: (string | number)[] = [schedulerId, now, items.length];
    for (const { conference: c, token, candidate, region } of items)
      args.push(
        c.id,
        token,
        candidate.id,
        candidate.address,
        region,
        c.expectedParticipants,
        c.startAt,
        c.durationS * 1000,
      );
    const r = (await this.run(
      COMMIT,
      [
        this.k.claims,
        this.k.claimer,
        this.k.sched,
        this.k.epoch,
        this.k.expiry,
        this.k.moves,
        this.k.xfer,
        this.k.unplaceable,
        this.k.ucount,
        this.k.backoff,
      ],
      args,
      true,
    )) as number[];
    return items.map((_, i) =>
      r[i * 3] === 1
        ? { ok: true as const, epoch: r[i * 3 + 1]!, moves: r[i * 3 + 2]! }
        : { ok: false as const },
    );
  }

  /** Home shard: the verdict on reservations held on other shards (fences the tokens not committed). */
  async resolve(
    items: readonly { id: string; token: string; serverId: string; evict: boolean }[],
    now: number,
  ): Promise<ResolveVerdict[]> {
    if (items.length === 0) return [];
    const args: (string | number)[] = [now, MOVE_HISTORY_MAX, items.length];
    for (const x of items) args.push(x.id, x.token, x.serverId, x.evict ? '1' : '0');
    return (await this.run(
      RESOLVE,
      [this.k.sched, this.k.xfer, this.k.pending, this.k.expiry, this.k.moves, this.k.history],
      args,
      true,
    )) as ResolveVerdict[];
  }

  /** Server shard: confirms ('placed') or releases the reservations; returns how many were released. */
  async settle(
    items: readonly { id: string; token: string; serverId: string; verdict: ResolveVerdict }[],
    auditAt: number,
  ): Promise<number> {
    if (items.length === 0) return 0;
    const args: (string | number)[] = [auditAt, items.length];
    for (const x of items) args.push(x.id, x.token, x.verdict);
    return Number(
      await this.run(
        SETTLE,
        [
          this.k.reserved,
          this.k.count,
          this.k.foreign,
          this.k.fcheck,
          ...items.map((x) => this.onKey(x.serverId)),
        ],
        args,
        true,
      ),
    );
  }

  /** Home shard: deferred conferences no region could take become unplaceable (if still claimed by us). */
  async unplace(
    schedulerId: string,
    items: readonly { conference: ConferenceRequest; reason: UnplaceableReason }[],
    options: PlaceOptions,
  ): Promise<({ ok: true; retryAt: number; attempts: number } | { ok: false })[]> {
    if (items.length === 0) return [];
    const args: (string | number)[] = [
      schedulerId,
      options.now ?? 0,
      options.backoffMs ?? PLACE_DEFAULTS.backoffMs,
      options.backoffMaxMs ?? PLACE_DEFAULTS.backoffMaxMs,
      items.length,
    ];
    for (const x of items) args.push(x.conference.id, x.reason, x.conference.startAt);
    const r = (await this.run(
      UNPLACE,
      [this.k.claimer, this.k.claims, this.k.xfer, this.k.unplaceable, this.k.ucount, this.k.backoff],
      args,
    )) as number[];
    return items.map((_, i) =>
      r[i * 2]! > 0
        ? { ok: true as const, retryAt: r[i * 2]!, attempts: r[i * 2 + 1]! }
        : { ok: false as const },
    );
  }

  /**
   * Server shard: reservations for other shards' conferences that are due a check at `now` (unconfirmed past their
   * deadline, evicted, or confirmed and due their audit), at most `limit`.
   */
  async foreignDue(now: number, limit: number): Promise<ForeignReservation[]> {
    const ids = await this.call(() => {
      this.roundTrips++;
      return this.redis.zrangebyscore(this.k.fcheck, '-inf', now, 'LIMIT', 0, limit);
    });
    return this.foreignOf(ids);
  }

  /** Every reservation this shard holds for other shards' conferences (tests, the API's view), at most `limit`. */
  async foreignAll(limit: number): Promise<ForeignReservation[]> {
    const ids = await this.call(() => this.redis.zrange(this.k.fcheck, 0, limit - 1));
    return this.foreignOf(ids);
  }

  private async foreignOf(ids: string[]): Promise<ForeignReservation[]> {
    if (ids.length === 0) return [];
    const rows = await this.call(() => this.redis.hmget(this.k.foreign, ...ids));
    const out: ForeignReservation[] = [];
    ids.forEach((id, i) => {
      const row = rows[i];
      if (row) out.push({ id, ...(JSON.parse(row) as Omit<ForeignReservation, 'id'>) });
    });
    return out;
  }

  /** The stored schedule entry's transfer token and region, for a conference placed on another shard. */
  async placementShard(id: string): Promise<{ token: string; region: string; serverId: string } | undefined> {
    const a = await this.call(() => this.redis.hget(this.k.sched, id));
    if (!a) return undefined;
    const e = JSON.parse(a) as StoredAssignment;
    return e.resv && e.resvRegion !== undefined
      ? { token: e.resv, region: e.resvRegion, serverId: e.serverId }
      : undefined;
  }

  /** The hash tag of this store's keys (tests check which cluster node owns it). */
  get hashTag(): string {
    return this.tag;
  }

  async counts(): Promise<{ pending: number; claimed: number; placed: number; unplaceable: number }> {
    const res = await this.call(async () =>
      this.redis
        .multi()
        .zcard(this.k.pending)
        .zcard(this.k.claims)
        .hlen(this.k.sched)
        .hlen(this.k.unplaceable)
        .exec(),
    );
    const v = (res ?? []).map(([, n]) => Number(n));
    return { pending: v[0] ?? 0, claimed: v[1] ?? 0, placed: v[2] ?? 0, unplaceable: v[3] ?? 0 };
  }
}

const UNPLACEABLE_STATUS: ReadonlyMap<number, UnplaceableReason> = new Map([
  [0, 'no-room'],
  [-3, 'too-large'],
  [-4, 'no-servers'],
]);

function publicUnplaceable(u: Unplaceable): Unplaceable {
  return { reason: u.reason, attempts: u.attempts, retryAt: u.retryAt };
}

function publicAssignment(s: StoredAssignment): Assignment {
  return {
    serverId: s.serverId,
    address: s.address,
    epoch: s.epoch,
    expiresAt: s.expiresAt,
    moves: s.moves,
    placedAt: s.placedAt ?? 0,
  };
}
