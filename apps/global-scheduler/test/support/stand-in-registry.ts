/**
 * TEMPORARY stand-in for @switchyard/registry (memory store + Lease), for tests only, until the real lib is merged.
 */
import type { Clock, TimerHandle } from '@switchyard/core';
import type {
  FeedEvent,
  LeaseLike,
  RecordInput,
  RecordPatch,
  RegistryStore,
  ServiceRecord,
  Watch,
} from '../../src/registry-port.js';

export class StandInRegistry implements RegistryStore {
  private readonly recs = new Map<string, ServiceRecord>();
  private rev = 0;
  private readonly watchers = new Set<{ service: string; push: (e: FeedEvent) => void }>();
  constructor(private readonly clock: Clock) {}
  async start(): Promise<void> {
    // stand-in: nothing to open
  }
  async stop(): Promise<void> {
    // stand-in: nothing to close
  }
  private key(s: string, id: string) {
    return `${s}/${id}`;
  }
  private expire(): void {
    for (const [k, r] of this.recs)
      if (r.expiresAt <= this.clock.now()) {
        this.recs.delete(k);
        this.emit({ type: 'expired', service: r.service, record: r, revision: ++this.rev });
      }
  }
  private emit(e: FeedEvent) {
    for (const w of this.watchers) if (w.service === e.service) w.push(e);
  }
  async put(i: RecordInput): Promise<ServiceRecord> {
    this.expire();
    const had = this.recs.has(this.key(i.service, i.id));
    const r: ServiceRecord = {
      id: i.id,
      service: i.service,
      address: i.address,
      region: i.region ?? 'default',
      load: i.load ?? 0,
      capacity: i.capacity ?? 0,
      state: i.state ?? 'serving',
      meta: i.meta ?? {},
      revision: ++this.rev,
      expiresAt: this.clock.now() + i.ttlMs,
    };
    this.recs.set(this.key(i.service, i.id), r);
    this.emit({ type: had ? 'updated' : 'added', service: r.service, record: r, revision: r.revision });
    return r;
  }
  async update(service: string, id: string, patch: RecordPatch): Promise<ServiceRecord> {
    this.expire();
    const old = this.recs.get(this.key(service, id));
    if (!old) throw Object.assign(new Error('not found'), { code: 'REG_ERR_NOT_FOUND' });
    const r = { ...old, ...patch, revision: ++this.rev };
    this.recs.set(this.key(service, id), r);
    this.emit({ type: 'updated', service, record: r, revision: r.revision });
    return r;
  }
  async renew(service: string, id: string, ttlMs: number): Promise<ServiceRecord> {
    this.expire();
    const old = this.recs.get(this.key(service, id));
    if (!old) throw Object.assign(new Error('not found'), { code: 'REG_ERR_NOT_FOUND' });
    old.expiresAt = this.clock.now() + ttlMs;
    return old;
  }
  async get(service: string, id: string) {
    this.expire();
    return this.recs.get(this.key(service, id));
  }
  async list(service: string) {
    this.expire();
    return [...this.recs.values()].filter((r) => r.service === service);
  }
  async remove(service: string, id: string) {
    const r = this.recs.get(this.key(service, id));
    if (!r) return false;
    this.recs.delete(this.key(service, id));
    this.emit({ type: 'removed', service, record: r, revision: ++this.rev });
    return true;
  }
  async currentRevision() {
    return this.rev;
  }
  /** Lets tests drive expiry the way the real store's sweeper does. */
  tick(): void {
    this.expire();
  }
  watch(service: string): Watch {
    const queue: FeedEvent[] = [];
    let wake: (() => void) | undefined;
    let closed = false;
    const w = { service, push: (e: FeedEvent) => (queue.push(e), wake?.()) };
    this.watchers.add(w);
    queue.push({
      type: 'snapshot',
      service,
      records: [...this.recs.values()].filter((r) => r.service === service),
      revision: this.rev,
    });
    const watchers = this.watchers;
    return {
      close() {
        closed = true;
        watchers.delete(w);
        wake?.();
      },
      async *[Symbol.asyncIterator]() {
        while (!closed) {
          if (queue.length) yield queue.shift()!;
          else await new Promise<void>((r) => (wake = r));
        }
      },
    };
  }
}

export function standInLease(
  c: { store: RegistryStore; clock: Clock },
  init: { record: RecordInput; renewEveryMs?: number },
): LeaseLike {
  let timer: TimerHandle | undefined;
  let record: ServiceRecord | undefined;
  return {
    get record() {
      return record;
    },
    async start() {
      record = await c.store.put(init.record);
      timer = c.clock.setInterval(
        () => {
          void c.store.renew(init.record.service, init.record.id, init.record.ttlMs).catch(async () => {
            record = await c.store.put(init.record);
          });
        },
        init.renewEveryMs ?? init.record.ttlMs / 3,
      );
    },
    async stop() {
      c.clock.clearInterval(timer);
      await c.store.remove(init.record.service, init.record.id);
    },
    async update(patch: RecordPatch) {
      record = await c.store.update(init.record.service, init.record.id, patch);
      return record;
    },
    on() {
      return () => undefined;
    },
  };
}
