/**
 * @switchyard/testing: helpers for tests that use real parts — a private `redis-server` per test file, free
 * ports, child processes stopped by pid, bounded polling with a clear failure message, and the check that every
 * error code of a lib is documented.
 *
 * @example
 * ```ts
 * const redis = await startRedis();
 * try { ... } finally { await redis.stop(); }
 * ```
 */
export * from './ports.js';
export * from './wait.js';
export * from './processes.js';
export * from './redis.js';
export * from './errors-doc.js';
export * from './redis-cluster.js';
