/**
 * VXLAN encapsulation from a per-destination header template (RFC 7348 framing, checked against this kernel's
 * decapsulation; see docs/pop-router.md). The 50-byte template holds everything that is constant for one owner host:
 *
 * | offset | bytes | field                                                                 |
 * | ------ | ----- | --------------------------------------------------------------------- |
 * | 0      | 8     | VXLAN: flags 0x08 (VNI valid), 3 reserved, VNI (24 bits), 1 reserved   |
 * | 8      | 14    | Ethernet: dst = the owner's vx0 MAC, src = ours, type 0x0800           |
 * | 22     | 20    | IPv4: 0x45, DF, TTL 64, proto 17, src **patched**, dst = the inner VIP |
 * | 42     | 8     | UDP: src port **patched**, dst = inner port, length **patched**, csum 0 |
 *
 * Per packet the client's address and port, the two lengths and the IPv4 checksum are written (the checksum by RFC
 * 1624 from the template's); nothing is allocated: the caller passes one reusable output buffer.
 */
import { createHash } from 'node:crypto';
import { internetChecksum, updateChecksum } from '../checksum.js';
import { PopWireError } from '../errors.js';
import { mustParseIpv4, parseIpv4, parseMac } from '../ipv4.js';

export const VXLAN_HEADER_BYTES = 8;
export const VXLAN_TEMPLATE_BYTES = 50;
/** IANA VXLAN port. */
export const VXLAN_DEFAULT_PORT = 4789;
const ETH = 8;
const IP = 22;
const UDP = 42;

export interface VxlanTemplateInit {
  /** VXLAN network identifier, 0..2^24-1; must equal the owner's `vx0` id. */
  vni: number;
  /** The owner's `vx0` MAC (`aa:bb:…`): its kernel accepts only frames addressed to it. */
  dstMac: string;
  /** Our `vx0` MAC (any unicast MAC works; the owner does not learn it). */
  srcMac: string;
  /** Inner destination: the tunnel address present on every host, where the dispatcher's second socket listens. */
  innerAddress: string;
  /** Inner destination port: the dispatcher's SIP port on that address. */
  innerPort: number;
}

/** Builds a destination host's template. Throws `PWR_ERR_TEMPLATE` / `PWR_ERR_ADDRESS` on a bad field. */
export function buildVxlanTemplate(init: VxlanTemplateInit): Buffer {
  if (!Number.isInteger(init.vni) || init.vni < 0 || init.vni > 0xffffff)
    throw new PopWireError('PWR_ERR_TEMPLATE', `vni: ${init.vni} is not 0..16777215`);
  if (!Number.isInteger(init.innerPort) || init.innerPort < 1 || init.innerPort > 65535)
    throw new PopWireError('PWR_ERR_TEMPLATE', `innerPort: ${init.innerPort} is not 1..65535`);
  const dst = mustParseIpv4(init.innerAddress, 'innerAddress');
  const t = Buffer.alloc(VXLAN_TEMPLATE_BYTES);
  t[0] = 0x08;
  t.writeUIntBE(init.vni, 4, 3);
  parseMac(init.dstMac, 'dstMac').copy(t, ETH);
  parseMac(init.srcMac, 'srcMac').copy(t, ETH + 6);
  t.writeUInt16BE(0x0800, ETH + 12);
  t[IP] = 0x45;
  t.writeUInt16BE(0x4000, IP + 6); // DF: the inner packet is never fragmented by us
  t[IP + 8] = 64;
  t[IP + 9] = 17;
  t.writeUInt32BE(dst, IP + 16);
  t.writeUInt16BE(init.innerPort, UDP + 2);
  // the checksum over the template with source address and length zero; patched incrementally per packet
  t.writeUInt16BE(internetChecksum(t, IP, IP + 20), IP + 10);
  return t;
}

/**
 * Writes template + patched headers + payload into `out` and returns the datagram length, or -1 when `srcAddress` is
 * not IPv4 or the packet does not fit `out` / an IPv4 length. The template's zero fields make the RFC 1624 updates
 * exact; `out` is reused by the caller for every packet.
 */
export function encapsulateVxlan(
  out: Buffer,
  template: Buffer,
  srcAddress: string,
  srcPort: number,
  payload: Uint8Array,
): number {
  const src = parseIpv4(srcAddress);
  const total = VXLAN_TEMPLATE_BYTES + payload.length;
  if (src < 0 || total > out.length) return -1;
  template.copy(out, 0, 0, VXLAN_TEMPLATE_BYTES);
  if (writeVxlanHeader(out, template, src, srcPort, payload.length) < 0) return -1;
  out.set(payload, VXLAN_TEMPLATE_BYTES);
  return total;
}

/**
 * The forwarding hot path's form (no payload copy): writes only the per-packet fields — the client's address
 * (`src`, as from {@link parseIpv4}) and port, the two lengths and the IPv4 checksum — into `header`, a copy of
 * `template` made once (the constant fields are never touched, so one header per destination is reused); the caller
 * sends `[header, payload]` as one datagram (a buffer list). The checksum is derived from the template's, so a
 * header is patched the same whatever was written into it before. Returns the datagram length, or -1 when the
 * payload is too large for an IPv4 length.
 */
export function writeVxlanHeader(
  header: Buffer,
  template: Buffer,
  src: number,
  srcPort: number,
  payloadLength: number,
): number {
  const ipLength = 28 + payloadLength;
  if (ipLength > 0xffff) return -1;
  const hi = src >>> 16;
  const lo = src & 0xffff;
  // the template's checksum covers zero source and length: add the three 16-bit words (RFC 1624)
  let hc = (template[IP + 10]! << 8) | template[IP + 11]!;
  hc = updateChecksum(hc, 0, ipLength);
  hc = updateChecksum(hc, 0, hi);
  hc = updateChecksum(hc, 0, lo);
  header.writeUInt16BE(ipLength, IP + 2);
  header.writeUInt16BE(hi, IP + 12);
  header.writeUInt16BE(lo, IP + 14);
  header.writeUInt16BE(hc, IP + 10);
  header.writeUInt16BE(srcPort, UDP);
  header.writeUInt16BE(8 + payloadLength, UDP + 4);
  return VXLAN_TEMPLATE_BYTES + payloadLength;
}

export interface VxlanInner {
  vni: number;
  srcAddress: string;
  srcPort: number;
  dstAddress: string;
  dstPort: number;
  payload: Buffer;
}

/** Parses a VXLAN datagram back (tests and diagnostics; the kernel does this in production). */
export function decodeVxlan(b: Buffer): VxlanInner | undefined {
  if (b.length < VXLAN_TEMPLATE_BYTES || b[0] !== 0x08 || b.readUInt16BE(ETH + 12) !== 0x0800)
    return undefined;
  if (b[IP] !== 0x45 || b[IP + 9] !== 17 || internetChecksum(b, IP, IP + 20) !== 0) return undefined;
  const ipLength = b.readUInt16BE(IP + 2);
  if (ipLength !== b.length - ETH - 14) return undefined;
  const ip = (o: number) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
  return {
    vni: b.readUIntBE(4, 3),
    srcAddress: ip(IP + 12),
    srcPort: b.readUInt16BE(UDP),
    dstAddress: ip(IP + 16),
    dstPort: b.readUInt16BE(UDP + 2),
    payload: b.subarray(VXLAN_TEMPLATE_BYTES),
  };
}

/**
 * The `vx0` MAC of a host, derived from its id so every host computes every other's without asking: locally
 * administered unicast (`02:…`), 40 bits of SHA-256.
 */
export function vxlanMacFor(hostId: string): string {
  const h = createHash('sha256').update(hostId).digest();
  const b = [0x02, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}
