/**
 * @switchyard/affinity: what binds a session to an owner, used by every tier — SIP session keys by a fast scan,
 * an {@link AffinityTable} of key → owner with reference counts and idle expiry, a {@link LeastLoadedQueue}
 * (indexed min-heap), and deterministic selection: power-of-two choices, rendezvous hashing and bounded load.
 *
 * @example
 * ```ts
 * import { extractSipKeys, AffinityTable } from '@switchyard/affinity';
 * import { systemClock } from '@switchyard/core';
 * const table = new AffinityTable<string>({ clock: systemClock });
 * const r = extractSipKeys(datagram);
 * if (r.ok) {
 *   const key = r.keys.conferenceId ?? r.keys.callId;
 *   const worker = table.lookup(key) ?? table.bind(key, pickWorker()).owner;
 * }
 * ```
 */
export * from './errors.js';
export * from './keys.js';
export * from './sip-uri.js';
export * from './affinity-table.js';
export * from './least-loaded-queue.js';
export * from './selection.js';
