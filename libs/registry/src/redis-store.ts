/**
 * Redis backend (ioredis). Atomic writes in Lua (see redis-scripts.ts), a per-service revision counter, a Redis
 * Stream per service as the resumable feed (entry id = revision), expiry kept in our own data (a ZSET of
 * expiresAt on the injected clock) and published exactly once by a sweeper plus the scripts' atomic
 * "expire if still expired" step. Redis TTLs are only a garbage-collection backstop.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { Cluster, type Redis } from 'ioredis';

/** One Redis, or a Redis Cluster (every script's keys share the service's hash tag, so each runs on one shard). */
export type RedisLike = Redis | Cluster;
import {
  ConfigError,
  parseConfig,
  silentLogger,
  RateLimitedLog,
  type Clock,
  type Logger,
  type TimerHandle,
} from '@switchyard/core';
import { ErrorCounter, RegistryError } from './errors.js';
import { FeedQueue } from './feed.js';
import { READ, REMOVE, RENEW, SWEEP, WRITE, WRITE_MANY } from './redis-scripts.js';
import type {
  PutManyOptions,
  ChangeEvent,
  RecordInput,
  RecordPatch,
  RegistryStore,
  ServiceRecord,
  Watch,
  WriteOptions,
} from './types.js';
import {
  applyPatch,
  bodyOf,
  checkExpect,
  checkKey,
  checkTtl,
  LimitsSchema,
  normalizeInput,
  positiveInt,
  type RecordBody,
  type RecordLimits,
} from './validate.js';

export interface RedisStoreInit {
  /** Prefix of every key. */
  prefix?: string;
  /** How often records past expiresAt are swept and published as `expired`, ms (store clock). */
  sweepIntervalMs?: number;
  /** Records expired per service per sweep script call. */
  sweepBatch?: number;
  /** Approximate number of feed entries kept per service (resume window). */
  feedMaxLen?: number;
  /** Redis-side TTL on a service's keys, refreshed by every write: garbage collection only, never expiry. */
  gcTtlMs?: number;
  /** How long a watcher's XREAD blocks (server-side) before it re-checks continuity, ms. */
  blockMs?: number;
  /** Feed entries read per XREAD. */
  readBatch?: number;
  /** Delay before a watcher retries after a Redis error, ms (store clock). */
  retryMs?: number;
  /** Retries of an update() that lost a compare-and-set race (without expectRevision). */
  maxUpdateRetries?: number;
  /** Events a slow watcher may have queued before it is reset. */
  maxQueued?: number;
  limits?: Partial<RecordLimits>;
}

export const REDIS_STORE_DEFAULTS = Object.freeze({
  prefix: 'sy', // short: it is in every key
  sweepIntervalMs: 250, // expiry is published at most this late (plus one Redis round trip)
  sweepBatch: 500, // bounds the time one Lua call holds Redis
  feedMaxLen: 10_000, // a watcher that reconnects within ~this many changes resumes without a reset
  gcTtlMs: 7 * 24 * 3600_000, // a week of silence before Redis drops a service's keys (longer than any lease)
  blockMs: 1000, // continuity (Redis restart) is noticed within about this long
  readBatch: 500, // entries per round trip while catching up
  retryMs: 500, // a down Redis is retried twice a second, not in a busy loop
  maxUpdateRetries: 50, // contention beyond this is reported as REG_ERR_CONFLICT
  maxQueued: 10_000, // events buffered in memory per watch; beyond that the feed waits in Redis (backpressure)
});

/** Short timers for tests. */
export const REDIS_STORE_TEST_PROFILE = Object.freeze({
  ...REDIS_STORE_DEFAULTS,
  sweepIntervalMs: 50,
  blockMs: 100,
  retryMs: 50,
  feedMaxLen: 100, // small, so tests reach the trimmed-history case
});

/** Key names of one service; see the README's key schema. */
export interface ServiceKeys {
  rec: string;
  rv: string;
  exp: string;
  rev: string;
  feed: string;
  epoch: string;
}

const D = REDIS_STORE_DEFAULTS;
const RedisStoreConfigSchema = Type.Object({
  // braces would change the hash tag, so keys of one service could land in different slots
  prefix: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$', default: D.prefix }),
  sweepIntervalMs: positiveInt(D.sweepIntervalMs),
  sweepBatch: positiveInt(D.sweepBatch),
  feedMaxLen: positiveInt(D.feedMaxLen),
  gcTtlMs: positiveInt(D.gcTtlMs),
  blockMs: positiveInt(D.blockMs),
  readBatch: positiveInt(D.readBatch),
  retryMs: positiveInt(D.retryMs),
  maxUpdateRetries: positiveInt(D.maxUpdateRetries),
  maxQueued: positiveInt(D.maxQueued),
  limits: LimitsSchema,
});

type Config = Readonly<Static<typeof RedisStoreConfigSchema>>;

interface Script {
  src: string;
  sha: string;
}
const script = (src: string): Script => ({ src, sha: createHash('sha1').update(src).digest('hex') });
const SCRIPTS = {
  write: script(WRITE),
  writeMany: script(WRITE_MANY),
  renew: script(RENEW),
  remove: script(REMOVE),
  sweep: script(SWEEP),
  read: script(READ),
};

interface ReadResult {
  epoch: string;
  revision: number;
  firstFeedRevision: number | undefined;
  records: ServiceRecord[];
}

export class RedisRegistryStore implements RegistryStore {
  readonly errors = new ErrorCounter();
  private readonly redis: RedisLike;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly log: RateLimitedLog;
  private readonly config: Config;
  private readonly limits: Readonly<RecordLimits>;
  private readonly known = new Set<string>();
  private readonly watches = new Set<RedisWatch>();
  /** The last epoch any watch of this store saw per service: a resume in this process can tell a restart apart. */
  private readonly seenEpochs = new Map<string, string>();
  private sweeper: TimerHandle | undefined;
  private sweeping = false;
  private sweepAgain = false;
  private stopped = false;

  /** Throws a `ConfigError` naming the first bad field of `init` (e.g. `prefix`, `maxQueued`, `limits.maxTtlMs`). */
  constructor(components: { redis: RedisLike; clock: Clock; logger?: Logger }, init: RedisStoreInit = {}) {
    this.redis = components.redis;
    this.clock = components.clock;
    this.logger = components.logger ?? silentLogger;
    this.log = new RateLimitedLog(this.logger, this.clock);
    const config = parseConfig(RedisStoreConfigSchema, init, { convert: false });
    if (config.maxQueued <= config.readBatch)
      throw new ConfigError('maxQueued', `must exceed readBatch (${config.readBatch})`);
    this.config = config;
    this.limits = config.limits;
  }

  /** The keys of one service, in script KEYS order (all share the hash tag `{service}`). */
  keys(service: string): ServiceKeys {
    const base = `${this.config.prefix}:{${service}}:`;
    return {
      rec: `${base}rec`,
      rv: `${base}rv`,
      exp: `${base}exp`,
      rev: `${base}rev`,
      feed: `${base}feed`,
      epoch: `${base}epoch`,
    };
  }

  /** The SET of service names the sweepers visit (a single key, outside every script). */
  get servicesKey(): string {
    return `${this.config.prefix}:services`;
  }

  async start(): Promise<void> {
    if (this.sweeper) return;
    this.stopped = false;
    this.sweeper = this.clock.setInterval(() => void this.sweep(), this.config.sweepIntervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const w of [...this.watches]) w.queue.close();
  }

  /** Expires every record past expiresAt in every known service; returns how many. Safe to run from many stores. */
  async sweep(): Promise<number> {
    if (this.sweeping) {
      this.sweepAgain = true; // a tick during a sweep: run once more afterwards with the newer time
      return 0;
    }
    this.sweeping = true;
    let n = 0;
    try {
      do {
        this.sweepAgain = false;
        const members = await this.redis.smembers(this.servicesKey);
        for (const s of new Set([...members, ...this.known])) {
          n += Number(await this.eval(SCRIPTS.sweep, s, [String(this.config.sweepBatch)]));
        }
      } while (this.sweepAgain && !this.stopped);
    } catch (err) {
      this.errors.count('REG_ERR_BACKEND');
      this.log.warn({ err }, 'registry sweep failed; retrying at the next tick');
    } finally {
      this.sweeping = false;
    }
    return n;
  }

  async put(input: RecordInput, opts: WriteOptions = {}): Promise<ServiceRecord> {
    try {
      const { body, ttlMs } = normalizeInput(input, this.limits);
      const expect = checkExpect(opts.expectRevision);
      // the SADD goes out beside the script (no extra round trip); it is outside the script to keep one slot
      const [, record] = await Promise.all([
        this.remember(body.service),
        this.write(body, this.clock.now() + ttlMs, expect ?? -1, 'put'),
      ]);
      return record;
    } catch (err) {
      return this.errors.rethrow(err);
    }
  }

  async putMany(inputs: readonly RecordInput[], opts: PutManyOptions = {}): Promise<ServiceRecord[]> {
    try {
      if (inputs.length === 0) return [];
      const now = this.clock.now();
      const items = inputs.map((i) => normalizeInput(i, this.limits));
      const service = items[0]!.body.service;
      const quiet = opts.returnRecords === false;
      // the records packed into one argument (see WRITE_MANY) unless an id holds the separator
      const packable = items.every(({ body }) => !body.id.includes('\n'));
      const args: string[] = [String(items.length), quiet ? '0' : '1', packable ? '1' : '0'];
      let packed = '';
      for (const { body, ttlMs } of items) {
        if (body.service !== service)
          throw new RegistryError(
            'REG_ERR_INVALID_RECORD',
            'invalid record: service differs within putMany',
            {
              details: { field: 'service' },
            },
          );
        const json = JSON.stringify(body);
        if (packable) packed += `${body.id}\n${now + ttlMs}\n${json}\n`;
        else args.push(body.id, json, String(now + ttlMs));
      }
      if (packable) args.push(packed);
      const [, res] = await Promise.all([
        this.remember(service),
        this.eval(SCRIPTS.writeMany, service, args) as Promise<Array<number | string>>,
      ]);
      if (quiet) return [];
      return items.map(({ body }, i) => withRevision(body, Number(res[i * 2]), Number(res[i * 2 + 1])));
    } catch (err) {
      return this.errors.rethrow(err);
    }
  }

  async update(
    service: string,
    id: string,
    patch: RecordPatch,
    opts: WriteOptions & { ttlMs?: number } = {},
  ): Promise<ServiceRecord> {
    try {
      checkKey(service, id, this.limits);
      const expect = checkExpect(opts.expectRevision);
      const ttlMs = opts.ttlMs === undefined ? undefined : checkTtl(opts.ttlMs, this.limits);
      // optimistic concurrency: merge here, write only if nobody changed the record meanwhile
      for (let attempt = 0; ; attempt++) {
        const cur = (await this.read(service, 'one', id)).records[0]; // not get(): that would count errors twice
        if (!cur) throw notFound(service, id);
        const body = applyPatch(bodyOf(cur), patch, this.limits);
        try {
          return await this.write(
            body,
            ttlMs === undefined ? '' : this.clock.now() + ttlMs,
            expect ?? cur.revision,
            'update',
          );
        } catch (err) {
          const retry = expect === undefined && attempt < this.config.maxUpdateRetries;
          if (!(retry && err instanceof RegistryError && err.code === 'REG_ERR_CONFLICT')) throw err;
        }
      }
    } catch (err) {
      return this.errors.rethrow(err);
    }
  }

  async renew(service: string, id: string, ttlMs: number): Promise<ServiceRecord> {
    try {
      checkKey(service, id, this.limits);
      const expiresAt = this.clock.now() + checkTtl(ttlMs, this.limits);
      const res = (await this.eval(SCRIPTS.renew, service, [id, String(expiresAt)])) as [
        string,
        number,
        string,
      ];
      if (res[0] === 'NOT_FOUND') throw notFound(service, id);
      return { ...this.parseBody(res[2]), revision: Number(res[1]), expiresAt };
    } catch (err) {
      return this.errors.rethrow(err);
    }
  }

  async get(service: string, id: string): Promise<ServiceRecord | undefined> {
    try {
      checkKey(service, id, this.limits);
      return (await this.read(service, 'one', id)).records[0];
    } catch (err) {
      return this.errors.rethrow(err);
    }
  }

  async list(service: string): Promise<ServiceRecord[]> {
    try {
      return (await this.read(service, 'all')).records;
    } catch (err) {
      return this.errors.rethrow(err);
    }
  }

  async remove(service: string, id: string): Promise<boolean> {
    try {
      checkKey(service, id, this.limits);
      return Number(await this.eval(SCRIPTS.remove, service, [id])) === 1;
    } catch (err) {
      return this.errors.rethrow(err);
    }
  }

  async currentRevision(service: string): Promise<number> {
    try {
      const v = await this.redis.get(this.keys(service).rev);
      return v === null ? 0 : Number(v);
    } catch (err) {
      return this.errors.rethrow(backend(err));
    }
  }

  watch(service: string, fromRevision?: number): Watch {
    const w = new RedisWatch(this, service, this.config, this.clock);
    this.watches.add(w);
    w.queue.onClose(() => this.watches.delete(w));
    this.known.add(service); // a watcher's store sweeps the service it watches
    void w.run(fromRevision);
    return w.queue;
  }

  /** @internal the watcher's continuity check and snapshot */
  async read(service: string, mode: 'all' | 'one' | 'none', id = ''): Promise<ReadResult> {
    const raw = (await this.eval(SCRIPTS.read, service, [mode, id])) as Array<string | number>;
    const records: ServiceRecord[] = [];
    for (let i = 3; i + 3 < raw.length; i += 4) {
      records.push({
        ...this.parseBody(String(raw[i + 1])),
        revision: Number(raw[i + 2]),
        expiresAt: Number(raw[i + 3]),
      });
    }
    records.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const first = String(raw[2]);
    return {
      epoch: String(raw[0]),
      revision: Number(raw[1]),
      firstFeedRevision: first ? parseInt(first, 10) : undefined,
      records,
    };
  }

  /** @internal */
  epochSeen(service: string, epoch?: string): string | undefined {
    if (epoch !== undefined) this.seenEpochs.set(service, epoch);
    return this.seenEpochs.get(service);
  }

  /** @internal */
  get client(): RedisLike {
    return this.redis;
  }

  /** @internal */
  countBackendError(err: unknown, what: string): void {
    this.errors.count('REG_ERR_BACKEND');
    this.log.warn({ err }, what);
  }

  /** @internal decodes one feed entry's fields; throws REG_ERR_BACKEND on anything but what the scripts wrote. */
  decodeEntry(service: string, revision: number, fields: string[]): ChangeEvent {
    const f: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) f[String(fields[i])] = String(fields[i + 1]);
    const t = f['t'];
    if (t !== 'added' && t !== 'updated' && t !== 'expired' && t !== 'removed')
      throw backend(new Error(`bad feed entry type ${String(t)}`));
    const record: ServiceRecord = {
      ...this.parseBody(f['b'] ?? ''),
      revision: Number(f['v']),
      expiresAt: Number(f['e']),
    };
    return { type: t, service, record, revision };
  }

  private async write(
    body: RecordBody,
    expiresAt: number | '',
    expect: number,
    mode: 'put' | 'update',
  ): Promise<ServiceRecord> {
    const res = (await this.eval(SCRIPTS.write, body.service, [
      body.id,
      JSON.stringify(body),
      String(expiresAt),
      String(expect),
      mode,
    ])) as [string, number, string];
    if (res[0] === 'NOT_FOUND') throw notFound(body.service, body.id);
    if (res[0] === 'CONFLICT') {
      throw new RegistryError('REG_ERR_CONFLICT', `expected revision ${expect}, stored ${res[1]}`, {
        details: { expected: expect, actual: Number(res[1]) },
      });
    }
    return withRevision(body, Number(res[1]), Number(res[2]));
  }

  /** Every put re-adds the service to the sweep set, so the set is rebuilt after a Redis restart. */
  private async remember(service: string): Promise<void> {
    this.known.add(service);
    await this.redis.sadd(this.servicesKey, service).catch((err: unknown) => {
      throw backend(err);
    });
  }

  private async eval(s: Script, service: string, args: string[]): Promise<unknown> {
    const k = this.keys(service);
    const keys = [k.rec, k.rv, k.exp, k.rev, k.feed, k.epoch];
    const argv = [
      String(this.config.feedMaxLen),
      String(this.config.gcTtlMs),
      String(this.clock.now()),
      randomUUID(),
      ...args,
    ];
    try {
      try {
        return await this.redis.evalsha(s.sha, keys.length, ...keys, ...argv);
      } catch (err) {
        // scripts vanish with a restarted server: load again
        if (redisReplyCode(err) !== 'NOSCRIPT') throw err;
        return await this.redis.eval(s.src, keys.length, ...keys, ...argv);
      }
    } catch (err) {
      throw backend(err);
    }
  }

  private parseBody(json: string): RecordBody {
    try {
      const b = JSON.parse(json) as RecordBody;
      if (!b || typeof b.id !== 'string' || typeof b.service !== 'string')
        throw new Error('not a record body');
      return b;
    } catch (err) {
      throw backend(err);
    }
  }
}

/**
 * A stored record from its body: the fields named one by one, not `{ ...body, … }`: on the feed's write path
 * (`putMany`, a record per placement) the spread was the largest single cost in a CPU profile of the caller.
 */
function withRevision(body: RecordBody, revision: number, expiresAt: number): ServiceRecord {
  return {
    id: body.id,
    service: body.service,
    address: body.address,
    region: body.region,
    load: body.load,
    capacity: body.capacity,
    state: body.state,
    meta: body.meta,
    revision,
    expiresAt,
  };
}

/** One watcher: a snapshot (or resume), then XREAD BLOCK on its own connection, checking the epoch after each. */
class RedisWatch {
  readonly queue: FeedQueue;
  private conn: RedisLike | undefined;
  private epoch = '';
  private last = 0;

  constructor(
    private readonly store: RedisRegistryStore,
    private readonly service: string,
    private readonly config: Config,
    private readonly clock: Clock,
  ) {
    this.queue = new FeedQueue(config.maxQueued);
    this.queue.onClose(() => this.conn?.disconnect());
  }

  async run(fromRevision: number | undefined): Promise<void> {
    let started = false;
    const { feed: feedKey, epoch: epochKey } = this.store.keys(this.service);
    let conn: RedisLike | undefined;
    while (!this.queue.isClosed) {
      try {
        if (!started) {
          await this.begin(fromRevision);
          started = true;
          // a blocking read needs its own connection; it waits out a Redis outage instead of failing
          const client = this.store.client;
          conn =
            client instanceof Cluster
              ? client.duplicate(undefined, {
                  redisOptions: { ...client.options.redisOptions, maxRetriesPerRequest: null },
                })
              : client.duplicate({ maxRetriesPerRequest: null, lazyConnect: false });
          conn.on('error', () => undefined); // reported through the read path
          this.conn = conn;
          if (this.queue.isClosed) conn.disconnect();
        }
        // backpressure: the feed waits in Redis while the consumer is behind, so a slow reader is never reset
        await this.queue.waitForSpace(this.config.maxQueued - this.config.readBatch);
        if (this.queue.isClosed) return;
        const res = await conn!.xread(
          'COUNT',
          this.config.readBatch,
          'BLOCK',
          this.config.blockMs,
          'STREAMS',
          feedKey,
          `${this.last}-0`,
        );
        if (this.queue.isClosed) return;
        const epoch = await this.store.client.get(epochKey);
        if (epoch !== this.epoch) {
          await this.reset(
            'the backend lost the data this watch had seen (Redis restarted or its keys were dropped)',
          );
          continue;
        }
        for (const [, entries] of res ?? []) {
          for (const [id, fields] of entries) {
            const revision = parseInt(id, 10);
            if (revision !== this.last + 1) {
              await this.reset(`feed gap: expected revision ${this.last + 1}, read ${revision}`);
              break;
            }
            let event: ChangeEvent;
            try {
              event = this.store.decodeEntry(this.service, revision, fields);
            } catch (err) {
              // a foreign or corrupt entry: say so and start from a snapshot rather than retry it forever
              this.store.countBackendError(err, 'undecodable registry feed entry');
              await this.reset(`undecodable feed entry ${id}`);
              break;
            }
            this.queue.push(event);
            this.last = revision;
          }
        }
      } catch (err) {
        if (this.queue.isClosed) return;
        this.store.countBackendError(err, 'registry watch failed; retrying');
        await new Promise<void>((resolve) => this.clock.setTimeout(resolve, this.config.retryMs));
      }
    }
  }

  private async begin(fromRevision: number | undefined): Promise<void> {
    if (fromRevision === undefined) return this.snapshot();
    const r = await this.store.read(this.service, 'none');
    const seen = this.store.epochSeen(this.service);
    if (seen !== undefined && seen !== r.epoch) {
      return this.reset(
        `the data changed incarnation since revision ${fromRevision} was seen (Redis restarted or its keys were dropped)`,
      );
    }
    this.setEpoch(r.epoch);
    const oldest = r.firstFeedRevision ?? r.revision + 1;
    if (
      !Number.isInteger(fromRevision) ||
      fromRevision < 0 ||
      fromRevision > r.revision ||
      fromRevision < oldest - 1
    ) {
      return this.reset(
        `cannot resume from revision ${fromRevision} (feed holds ${oldest - 1}..${r.revision})`,
      );
    }
    this.last = fromRevision;
  }

  private setEpoch(epoch: string): void {
    this.epoch = epoch;
    this.store.epochSeen(this.service, epoch);
  }

  private async snapshot(): Promise<void> {
    const r = await this.store.read(this.service, 'all');
    this.setEpoch(r.epoch);
    this.last = r.revision;
    this.queue.push({ type: 'snapshot', service: this.service, records: r.records, revision: r.revision });
  }

  private async reset(reason: string): Promise<void> {
    const r = await this.store.read(this.service, 'all');
    this.queue.clear();
    this.queue.push({ type: 'reset', service: this.service, reason, revision: r.revision });
    this.setEpoch(r.epoch);
    this.last = r.revision;
    this.queue.push({ type: 'snapshot', service: this.service, records: r.records, revision: r.revision });
  }
}

function notFound(service: string, id: string): RegistryError {
  return new RegistryError('REG_ERR_NOT_FOUND', `no live record ${service}/${id}`, {
    details: { service, id },
  });
}

/** Redis error codes of replies that mean "retry later" (cluster failover, replica loading, read-only replica). */
export const TRANSIENT_REDIS_REPLY_CODES: ReadonlySet<string> = new Set([
  'CLUSTERDOWN',
  'LOADING',
  'MASTERDOWN',
  'READONLY',
  'TRYAGAIN',
  'BUSY',
]);

/**
 * The Redis error code of an ioredis reply error (`NOSCRIPT No matching script` → `NOSCRIPT`: the first word of a
 * RESP error is its code), or undefined when `err` is not a reply from Redis.
 */
export function redisReplyCode(err: unknown): string | undefined {
  if (!(err instanceof Error) || err.name !== 'ReplyError') return undefined;
  return err.message.split(' ', 1)[0];
}

/**
 * True when an ioredis error means Redis cannot be reached now: anything but a reply (connection closed, offline
 * queue off, retries exhausted, a socket errno), or a reply whose code says "retry later".
 */
export function isRedisUnavailable(err: unknown): boolean {
  const code = redisReplyCode(err);
  return code === undefined || TRANSIENT_REDIS_REPLY_CODES.has(code);
}

/** Where ioredis errors enter the registry, translated by kind and code, never by message text. */
function backend(err: unknown): RegistryError {
  if (err instanceof RegistryError) return err;
  const message = `redis: ${err instanceof Error ? err.message : String(err)}`;
  return new RegistryError(isRedisUnavailable(err) ? 'REG_ERR_UNAVAILABLE' : 'REG_ERR_BACKEND', message, {
    cause: err,
  });
}
