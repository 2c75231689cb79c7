/**
 * @switchyard/container-link: the container's side of the container balancer's registration protocol. A container
 * dials the balancer, authenticates with a token, registers `{service, capacity, address | reverse}` and pushes
 * its load (a full heartbeat and an immediate delta: the registry's push channel frames). In reverse mode it also
 * serves HTTP/2 over a second connection it dialed, so it needs no reachable port.
 *
 * @example
 * ```ts
 * import { systemClock } from '@switchyard/core';
 * import { ContainerLink } from '@switchyard/container-link';
 * const link = new ContainerLink({ clock: systemClock }, {
 *   host: '127.0.0.1', port: 7400, token: process.env.BALANCER_TOKEN!, mode: 'direct',
 *   record: { id: 'mixer-1', service: 'mixer', capacity: 100, address: '127.0.0.1:8000' },
 * });
 * await link.start();
 * link.update({ load: 3 }); // sent at once
 * ```
 */
export * from './errors.js';
export * from './link-protocol.js';
export * from './container-link.js';
