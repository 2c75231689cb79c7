/**
 * @switchyard/server-agent: a conference server's agent. It registers the server in the registry (TTL lease,
 * heartbeat), publishes its load at once on change and periodically, and answers the schedulers' keep-alive probe
 * on `GET /healthz`.
 *
 * @example
 * ```ts
 * import { systemClock } from '@switchyard/core';
 * import { ServerAgent } from '@switchyard/server-agent';
 * const agent = new ServerAgent({ store, clock: systemClock });
 * await agent.start({ id: 'pop1-host3', address: '127.0.1.3:5060', region: 'eu', capacity: 500, probePort: 0 });
 * await agent.setLoad(42);   // published at once
 * await agent.stop();        // deregisters
 * ```
 */
export * from './agent.js';
export * from './errors.js';
