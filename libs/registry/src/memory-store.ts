/** In-process backend: same semantics as the Redis one, time from the injected clock. */
import { Type, type Static } from '@sinclair/typebox';
import { parseConfig, type Clock, type TimerHandle } from '@switchyard/core';
import { ErrorCounter, RegistryError } from './errors.js';
import { FeedQueue } from './feed.js';
import type {
  PutManyOptions,
  ChangeEvent,
  FeedEvent,
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

export interface MemoryStoreInit {
  /** How often expired records are swept and published as `expired`, ms. */
  sweepIntervalMs?: number;
  /** Change events kept per service for resuming watches. */
  historyLimit?: number;
  /** Events a slow watcher may have queued before it is reset. */
  maxQueued?: number;
  limits?: Partial<RecordLimits>;
}

export const MEMORY_STORE_DEFAULTS = Object.freeze({
  sweepIntervalMs: 250, // expiry is published at most this late
  historyLimit: 10_000, // a watcher that reconnects within this many changes resumes without a reset
  maxQueued: 10_000, // a watcher further behind than this gets reset + snapshot instead of unbounded memory
});

/** Short timers for tests. */
export const MEMORY_STORE_TEST_PROFILE = Object.freeze({
  ...MEMORY_STORE_DEFAULTS,
  sweepIntervalMs: 50,
  historyLimit: 100,
});

const MemoryStoreConfigSchema = Type.Object({
  sweepIntervalMs: positiveInt(MEMORY_STORE_DEFAULTS.sweepIntervalMs),
  historyLimit: positiveInt(MEMORY_STORE_DEFAULTS.historyLimit),
  maxQueued: positiveInt(MEMORY_STORE_DEFAULTS.maxQueued),
  limits: LimitsSchema,
});

interface ServiceState {
  revision: number;
  records: Map<string, ServiceRecord>;
  history: ChangeEvent[];
  watchers: Set<FeedQueue>;
}

export class MemoryRegistryStore implements RegistryStore {
  readonly errors = new ErrorCounter();
  private readonly clock: Clock;
  private readonly config: Readonly<Static<typeof MemoryStoreConfigSchema>>;
  private readonly limits: Readonly<RecordLimits>;
  private readonly services = new Map<string, ServiceState>();
  private sweeper: TimerHandle | undefined;

  /** Throws a `ConfigError` naming the first bad field of `init` (e.g. `maxQueued`, `limits.maxTtlMs`). */
  constructor(components: { clock: Clock }, init: MemoryStoreInit = {}) {
    this.clock = components.clock;
    this.config = parseConfig(MemoryStoreConfigSchema, init, { convert: false });
    this.limits = this.config.limits;
  }

  async start(): Promise<void> {
    if (this.sweeper) return;
    this.sweeper = this.clock.setInterval(() => this.sweep(), this.config.sweepIntervalMs);
  }

  async stop(): Promise<void> {
    this.clock.clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const s of this.services.values()) for (const w of [...s.watchers]) w.close();
  }

  /** Publishes every record past its expiresAt as `expired` (once: the record is gone afterwards). */
  sweep(): number {
    const now = this.clock.now();
    let n = 0;
    for (const s of this.services.values()) {
      for (const r of [...s.records.values()]) {
        if (r.expiresAt <= now) {
          this.drop(s, r, 'expired');
          n++;
        }
      }
    }
    return n;
  }

  async put(input: RecordInput, opts: WriteOptions = {}): Promise<ServiceRecord> {
    try {
      const { body, ttlMs } = normalizeInput(input, this.limits);
      const expect = checkExpect(opts.expectRevision);
      const s = this.state(body.service);
      const cur = this.live(s, body.id);
      this.checkCas(expect, cur);
      return this.write(s, body, this.clock.now() + ttlMs, cur ? 'updated' : 'added');
    } catch (err) {
      return this.errors.rethrow(err);
    }
  }

  async putMany(inputs: readonly RecordInput[], opts: PutManyOptions = {}): Promise<ServiceRecord[]> {
    try {
      // validate all first: a bad record writes nothing
      const items = inputs.map((i) => normalizeInput(i, this.limits));
      if (items.some((x) => x.body.service !== items[0]!.body.service))
        throw new RegistryError('REG_ERR_INVALID_RECORD', 'invalid record: service differs within putMany', {
          details: { field: 'service' },
        });
      const records = items.map(({ body, ttlMs }) => {
        const s = this.state(body.service);
        const cur = this.live(s, body.id);
        return this.write(s, body, this.clock.now() + ttlMs, cur ? 'updated' : 'added');
      });
      return opts.returnRecords === false ? [] : records;
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
      const s = this.state(service);
      const cur = this.live(s, id);
      if (!cur) throw notFound(service, id);
      this.checkCas(expect, cur);
      const body = applyPatch(bodyOf(cur), patch, this.limits);
      return this.write(s, body, ttlMs === undefined ? cur.expiresAt : this.clock.now() + ttlMs, 'updated');
    } catch (err) {
      return this.errors.rethrow(err);
    }
  }

  async renew(service: string, id: string, ttlMs: number): Promise<ServiceRecord> {
    try {
      checkKey(service, id, this.limits);
      const ttl = checkTtl(ttlMs, this.limits);
      const s = this.state(service);
      const cur = this.live(s, id);
      if (!cur) throw notFound(service, id);
      const next = { ...cur, expiresAt: this.clock.now() + ttl };
      s.records.set(id, next);
      return clone(next);
    } catch (err) {
      return this.errors.rethrow(err);
    }
  }

  async get(service: string, id: string): Promise<ServiceRecord | undefined> {
    try {
      checkKey(service, id, this.limits);
    } catch (err) {
      return this.errors.rethrow(err);
    }
    const s = this.services.get(service);
    const r = s && this.live(s, id);
    return r && clone(r);
  }

  async list(service: string): Promise<ServiceRecord[]> {
    const s = this.services.get(service);
    return s ? this.liveList(s) : [];
  }

  async remove(service: string, id: string): Promise<boolean> {
    try {
      checkKey(service, id, this.limits);
    } catch (err) {
      return this.errors.rethrow(err);
    }
    const s = this.services.get(service);
    const cur = s && this.live(s, id);
    if (!s || !cur) return false;
    this.drop(s, cur, 'removed');
    return true;
  }

  async currentRevision(service: string): Promise<number> {
    return this.services.get(service)?.revision ?? 0;
  }

  watch(service: string, fromRevision?: number): Watch {
    const q = new FeedQueue(this.config.maxQueued);
    const s = this.state(service);
    s.watchers.add(q);
    q.onClose(() => s.watchers.delete(q));
    if (fromRevision === undefined) {
      this.snapshotTo(s, q, service);
    } else {
      const oldest = s.history[0]?.revision ?? s.revision + 1;
      if (
        !Number.isInteger(fromRevision) ||
        fromRevision < 0 ||
        fromRevision > s.revision ||
        fromRevision < oldest - 1
      ) {
        this.resetTo(
          s,
          q,
          service,
          `cannot resume from revision ${fromRevision} (history holds ${oldest - 1}..${s.revision})`,
        );
      } else {
        for (const e of s.history) if (e.revision > fromRevision) q.push(e);
      }
    }
    return q;
  }

  private snapshotTo(s: ServiceState, q: FeedQueue, service: string): void {
    q.push({ type: 'snapshot', service, records: this.liveList(s), revision: s.revision });
  }

  private resetTo(s: ServiceState, q: FeedQueue, service: string, reason: string): void {
    q.clear();
    q.push({ type: 'reset', service, reason, revision: s.revision });
    this.snapshotTo(s, q, service);
  }

  private state(service: string): ServiceState {
    let s = this.services.get(service);
    if (!s) {
      s = { revision: 0, records: new Map(), history: [], watchers: new Set() };
      this.services.set(service, s);
    }
    return s;
  }

  /** The record if live; a record past expiresAt is expired (and published) here, so expiry is exactly-once. */
  private live(s: ServiceState, id: string): ServiceRecord | undefined {
    const r = s.records.get(id);
    if (r && r.expiresAt <= this.clock.now()) {
      this.drop(s, r, 'expired');
      return undefined;
    }
    return r;
  }

  private liveList(s: ServiceState): ServiceRecord[] {
    const now = this.clock.now();
    return [...s.records.values()]
      .filter((r) => r.expiresAt > now)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map(clone);
  }

  private checkCas(expect: number | undefined, cur: ServiceRecord | undefined): void {
    if (expect === undefined) return;
    const have = cur?.revision ?? 0;
    if (have !== expect) {
      throw new RegistryError('REG_ERR_CONFLICT', `expected revision ${expect}, stored ${have}`, {
        details: { expected: expect, actual: have },
      });
    }
  }

  private write(
    s: ServiceState,
    body: RecordBody,
    expiresAt: number,
    type: 'added' | 'updated',
  ): ServiceRecord {
    const revision = ++s.revision;
    const record: ServiceRecord = { ...body, meta: { ...body.meta }, revision, expiresAt };
    s.records.set(record.id, record);
    this.publish(s, { type, service: record.service, record: clone(record), revision });
    return clone(record);
  }

  private drop(s: ServiceState, r: ServiceRecord, type: 'expired' | 'removed'): void {
    s.records.delete(r.id);
    const revision = ++s.revision;
    this.publish(s, { type, service: r.service, record: clone(r), revision });
  }

  private publish(s: ServiceState, e: ChangeEvent): void {
    s.history.push(e);
    if (s.history.length > this.config.historyLimit)
      s.history.splice(0, s.history.length - this.config.historyLimit);
    for (const q of s.watchers) {
      if (!q.push(e as FeedEvent)) this.resetTo(s, q, e.service, 'watcher fell too far behind');
    }
  }
}

function notFound(service: string, id: string): RegistryError {
  return new RegistryError('REG_ERR_NOT_FOUND', `no live record ${service}/${id}`, {
    details: { service, id },
  });
}

function clone(r: ServiceRecord): ServiceRecord {
  return { ...r, meta: { ...r.meta } };
}
