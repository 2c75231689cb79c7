/** Registers one benchmark HTTP server with the container balancer as a direct-mode container. */
import { systemClock } from '@switchyard/core';
import { ContainerLink } from '@switchyard/container-link';

export function registerDirect(
  balancer: string,
  token: string,
  record: { id: string; service: string; capacity: number; address: string },
): ContainerLink {
  const i = balancer.lastIndexOf(':');
  const link = new ContainerLink(
    { clock: systemClock },
    { host: balancer.slice(0, i), port: Number(balancer.slice(i + 1)), token, mode: 'direct', record },
  );
  void link.start();
  return link;
}
