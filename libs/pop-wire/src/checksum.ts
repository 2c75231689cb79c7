/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624, eqn. 3), for the IPv4 header of a VXLAN
 * template patched per packet: three 16-bit words change (source address, total length), so the checksum is
 * updated from the template's instead of recomputed over the 20 bytes.
 */

/** One's-complement sum of 16-bit big-endian words of `buf[start, end)`, folded, complemented. */
export function internetChecksum(buf: Uint8Array, start: number, end: number): number {
  let sum = 0;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) sum += buf[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * RFC 1624 eqn. 3: `HC' = ~(~HC + ~m + m')`, where `m` is the old value of one 16-bit word and `m'` its new value.
 * Unlike eqn. 2 it never yields 0x0000 for a header whose sum is not zero (the -0 pitfall the RFC describes).
 */
export function updateChecksum(hc: number, oldWord: number, newWord: number): number {
  let sum = (~hc & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
