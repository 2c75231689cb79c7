/** Dotted IPv4 text ↔ 32-bit number, without allocating (the per-packet path parses the peer address string). */
import { PopWireError } from './errors.js';

/** The address as an unsigned 32-bit number, or -1 when `s` is not a dotted IPv4 address. Allocates nothing. */
export function parseIpv4(s: string): number {
  let value = 0;
  let part = -1;
  let parts = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 /* . */) {
      if (part < 0 || parts === 3) return -1;
      value = value * 256 + part;
      parts++;
      part = -1;
    } else if (c >= 48 && c <= 57) {
      part = part < 0 ? c - 48 : part * 10 + (c - 48);
      if (part > 255) return -1;
    } else {
      return -1;
    }
  }
  if (part < 0 || parts !== 3) return -1;
  return value * 256 + part;
}

/** Like {@link parseIpv4}; throws `PWR_ERR_ADDRESS` naming `what` (for configuration, not the hot path). */
export function mustParseIpv4(s: string, what: string): number {
  const v = parseIpv4(s);
  if (v < 0) throw new PopWireError('PWR_ERR_ADDRESS', `${what}: '${s}' is not an IPv4 address`);
  return v;
}

/** `02:00:5e:10:00:01` → 6 bytes; throws `PWR_ERR_ADDRESS`. */
export function parseMac(s: string, what: string): Buffer {
  const m = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(s);
  if (!m) throw new PopWireError('PWR_ERR_ADDRESS', `${what}: '${s}' is not a MAC address`);
  return Buffer.from(m.slice(1).map((h) => parseInt(h, 16)));
}

export function formatMac(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}
