/**
 * @switchyard/container-balancer (tier 4): containers dial in and register with a service id; the balancer keeps
 * one least-loaded queue per service and routes allocations and `/svc/<service>/…` requests to the head.
 *
 * @example
 * ```ts
 * import { createLogger, systemClock } from '@switchyard/core';
 * import { BalancerApp, BalancerSettings, resolveConfig } from '@switchyard/container-balancer';
 * const config = resolveConfig(BalancerSettings.parse({ port: 0, registerPort: 0, registrationToken: 'secret-123' }));
 * const app = new BalancerApp({ clock: systemClock, logger: createLogger('balancer') }, config);
 * await app.start();
 * ```
 */
export * from './errors.js';
export * from './defaults.js';
export * from './settings.js';
export * from './app.js';
export * from './metrics.js';
export * from './queues/container-table.js';
export * from './routing/retry-policy.js';
export { toRegistration } from './registration/registration-server.js';
export { TokenBucket } from './registration/token-bucket.js';
