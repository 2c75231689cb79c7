/**
 * @switchyard/testing: helpers for tests that use real parts — a private `redis-server` per test file, free
 * ports, child processes stopped by pid, SIPp runs, bounded polling with a clear failure message, and the check
 * that every error code of a lib is documented. Only test files may import it (lint); the process helpers come
 * from @switchyard/launch, which tools use directly.
 *
 * @example
 * ```ts
 * const redis = await startRedis();
 * try { ... } finally { await redis.stop(); }
 * ```
 */
export * from '@switchyard/launch';
export * from './redis.js';
export * from './errors-doc.js';
