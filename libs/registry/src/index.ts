/**
 * @switchyard/registry: service records with TTL leases, a resumable change feed (`watch`), two backends that pass
 * one compliance suite (`MemoryRegistryStore`, `RedisRegistryStore`), and a direct push channel (publisher → one
 * subscriber over TCP: periodic heartbeat, immediate delta, silence past a deadline = failure).
 *
 * @example
 * ```ts
 * import { ManualClock } from '@switchyard/core';
 * import { MemoryRegistryStore, Lease } from '@switchyard/registry';
 * const clock = new ManualClock();
 * const store = new MemoryRegistryStore({ clock });
 * await store.start();
 * const lease = new Lease({ store, clock }, { record: { id: 'a', service: 'sched', address: '127.0.0.1:7000', ttlMs: 3000 } });
 * await lease.start();
 * for await (const e of store.watch('sched')) console.log(e.type); // snapshot, then added/updated/expired/removed
 * ```
 */
export * from './types.js';
export * from './errors.js';
export { DEFAULT_LIMITS, type RecordLimits, type RecordBody } from './validate.js';
export * from './feed.js';
export * from './memory-store.js';
export * from './lease.js';
export * from './redis-store.js';
export * from './push-protocol.js';
export * from './push-channel.js';
