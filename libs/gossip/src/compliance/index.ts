/**
 * `@switchyard/gossip/compliance`: the transport compliance suite, exported so that every `Transport` — memory,
 * UDP unicast and multicast here, the pop-router's transports elsewhere — runs the same tests unchanged. It is test
 * code: it needs `vitest` (a dev dependency of the project whose tests import it).
 *
 * @example
 * ```ts
 * import { transportCompliance } from '@switchyard/gossip/compliance';
 * transportCompliance('my transport', async () => ({ a, b, until, cleanup }));
 * ```
 */
export * from './transport-compliance.js';
