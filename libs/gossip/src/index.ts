/**
 * @switchyard/gossip: SWIM membership (with Lifeguard's shrinking suspicion and local health) and a replicated
 * session-ownership map, over authenticated, size-bounded msgpack datagrams on UDP multicast, UDP unicast fan-out
 * or an in-memory simulated network.
 *
 * @example
 * ```ts
 * import { GossipNode, UdpUnicastTransport } from '@switchyard/gossip';
 * const node = new GossipNode(
 *   { transport: new UdpUnicastTransport({}, { host: '127.0.1.1', port: 7946 }) },
 *   { id: 'host-1', seeds: ['127.0.1.2:7946'], keyring: { keys: [{ id: 1, secret: process.env.GOSSIP_KEY! }], primary: 1 } },
 * );
 * node.on((e) => { if (e.type === 'sessions-orphaned') rehome(e.sessions); });
 * await node.start();
 * node.claim('conf-42', 7); // epoch from the scheduler's assignment
 * node.owner('conf-42');    // { owner: 'host-1', epoch: 7, version: 1, closed: false, ownerStatus: 'alive' }
 * ```
 */
export * from './errors.js';
export * from './config.js';
export { Codec, WIRE_VERSION, HEADER_BYTES, MAC_BYTES, type DecodeResult } from './wire/codec.js';
export { createKeyring, type Keyring, type KeyringInit } from './wire/keyring.js';
export * from './wire/messages.js';
export * from './membership/suspicion.js';
export { compareEntries, OwnershipMap, type OwnerEntry } from './ownership/ownership-map.js';
export { BroadcastQueue } from './dissemination/broadcast-queue.js';
export * from './node/events.js';
export { GossipState, type GossipStateInit, type StateCounters } from './node/gossip-state.js';
export * from './node/gossip-node.js';
export * from './transport/transport.js';
export * from './transport/memory-transport.js';
export * from './transport/udp-transport.js';
export * from './sim/rng.js';
export * from './sim/simulated-cluster.js';
