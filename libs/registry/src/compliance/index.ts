/**
 * `@switchyard/registry/compliance`: the registry store compliance suite, exported so that every implementation
 * of `RegistryStore` — the memory and Redis stores here, a Redis Cluster or Sentinel store elsewhere — runs the
 * same tests unchanged. It is test code: it needs `vitest` and `@switchyard/testing` (dev dependencies of the
 * project whose tests import it).
 *
 * @example
 * ```ts
 * import { registryCompliance } from '@switchyard/registry/compliance';
 * registryCompliance('redis cluster', async () => ({ clock, client: async () => newStore(), sweepMs: 50, close }));
 * ```
 */
export * from './registry-compliance.js';
