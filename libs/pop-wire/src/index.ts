/**
 * @switchyard/pop-wire: the wire formats of tier 2 that the POP router and the host dispatcher's data plane share —
 * VXLAN header templates patched per packet (incremental IPv4 checksum, RFC 1624), the authenticated `udp` tunnel
 * header with its replay window, and the router ↔ dispatcher link messages.
 *
 * @example
 * ```ts
 * import { buildVxlanTemplate, encapsulateVxlan, vxlanMacFor } from '@switchyard/pop-wire';
 * const t = buildVxlanTemplate({ vni: 42, dstMac: vxlanMacFor('host-2'), srcMac: vxlanMacFor('host-1'),
 *   innerAddress: '198.19.0.101', innerPort: 5060 });
 * const out = Buffer.allocUnsafe(65600);
 * const n = encapsulateVxlan(out, t, '198.18.0.7', 40001, sipDatagram); // send out[0..n) to host-2:4789
 * ```
 */
export * from './errors.js';
export * from './checksum.js';
export * from './ipv4.js';
export * from './vxlan/vxlan-template.js';
export * from './tunnel/tunnel-keys.js';
export * from './tunnel/replay-window.js';
export * from './tunnel/udp-tunnel.js';
export * from './link/link-messages.js';
export * from './owner/owner-token.js';
