/**
 * @switchyard/pop-router: tier 2. Each POP host runs one: SWIM gossip of membership and session ownership, the host
 * table with encapsulation templates per destination, the link that keeps the local dispatcher's data plane
 * (owned here → worker; owned elsewhere → encapsulated to the owner) up to date, the `udp` tunnel receiver, and the
 * control API (contract C3).
 *
 * @example
 * ```ts
 * import { PopRouter, PopRouterSettings, loadKeyringFile } from '@switchyard/pop-router';
 * const config = PopRouterSettings.parse({ id: 'h1', address: '127.0.3.1', gossipTransport: 'unicast' });
 * const router = new PopRouter({ logger }, { ...config, ...loadKeyringFile('keyring.json'), token });
 * await router.start();
 * router.claim('conf-42', 7); // what PUT /v1/sessions/conf-42 {epoch: 7} does
 * ```
 */
export * from './errors.js';
export * from './settings.js';
export * from './keyring-file.js';
export { HostTable, hostOf, type HostEntry, type HostTableInit } from './hosts/host-table.js';
export {
  RouterCore,
  ROUTER_CORE_DEFAULTS,
  type RouterCoreInit,
  type RouterCommand,
  type RouterCounters,
  type OwnershipReader,
} from './ownership/router-core.js';
export { DispatcherLink, type DispatcherLinkHandlers } from './link/dispatcher-link.js';
export { buildApi, type PopControl, type HostView, type SessionView } from './api/api.js';
export { PopRouterMetrics } from './metrics.js';
export { PopRouter, type PopRouterComponents, type PopRouterInit } from './pop-router.js';
