/**
 * The `udp` encapsulation: our own header, authenticated with HMAC-SHA256-128 under a tunnel key, for POPs where
 * the kernel cannot decapsulate (no root, no VXLAN). The sending host's dispatcher seals; the owner's pop-router
 * opens, checks and injects the datagram into its dispatcher with the client's address.
 *
 * | offset   | bytes | field                                                            |
 * | -------- | ----- | ---------------------------------------------------------------- |
 * | 0        | 2     | magic `SY`                                                       |
 * | 2        | 1     | version 1                                                        |
 * | 3        | 1     | key id                                                           |
 * | 4        | 1+s   | sender host id (length-prefixed)                                 |
 * | 5+s      | 1+d   | destination host id (length-prefixed) — end of the template (T)  |
 * | T        | 1     | index of the service address the packet arrived on               |
 * | T+1      | 2     | client port                                                      |
 * | T+3      | 6     | sender incarnation (ms since the Unix epoch when it started)     |
 * | T+9      | 4     | packet counter                                                   |
 * | T+13     | 6     | send time, ms since the Unix epoch (freshness)                   |
 * | T+19     | 1+n   | client address (latin1, length-prefixed)                         |
 * | …        |       | the original datagram                                            |
 * | end − 16 | 16    | HMAC-SHA256 over everything before, truncated to 128 bits        |
 *
 * Everything up to T is constant per (sender, destination, key): the template. The destination id in the MAC'd
 * header stops a packet meant for one host being replayed to another.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { PopWireError } from '../errors.js';
import { ReplayWindow } from './replay-window.js';
import type { TunnelKeys } from './tunnel-keys.js';

export const TUNNEL_MAGIC = 0x5359;
export const TUNNEL_VERSION = 1;
export const TUNNEL_MAC_BYTES = 16;
const VAR_FIXED = 20;
const MAX_ID = 64;
const MAX_ADDR = 64;

/** Constant part of the header for one (sender, destination) with the key `keyId`. Throws `PWR_ERR_TEMPLATE`. */
export function buildTunnelTemplate(init: { from: string; to: string; keyId: number }): Buffer {
  const from = Buffer.from(init.from, 'latin1');
  const to = Buffer.from(init.to, 'latin1');
  if (!from.length || from.length > MAX_ID || !to.length || to.length > MAX_ID)
    throw new PopWireError('PWR_ERR_TEMPLATE', 'tunnel template: host ids must be 1..64 bytes');
  if (!Number.isInteger(init.keyId) || init.keyId < 0 || init.keyId > 255)
    throw new PopWireError('PWR_ERR_TEMPLATE', `tunnel template: key id ${init.keyId} is not 0..255`);
  const t = Buffer.alloc(6 + from.length + to.length);
  t.writeUInt16BE(TUNNEL_MAGIC, 0);
  t[2] = TUNNEL_VERSION;
  t[3] = init.keyId;
  t[4] = from.length;
  from.copy(t, 5);
  t[5 + from.length] = to.length;
  to.copy(t, 6 + from.length);
  return t;
}

/** Largest overhead of the header + MAC, for sizing the caller's output buffer. */
export const TUNNEL_MAX_OVERHEAD = 6 + 2 * MAX_ID + VAR_FIXED + MAX_ADDR + TUNNEL_MAC_BYTES;

/** Seals datagrams for any destination (the dispatcher keeps one). */
export class TunnelSealer {
  private counter = 0;
  private boot: number;

  constructor(
    private readonly components: { now: () => number },
    private readonly keys: TunnelKeys,
  ) {
    this.boot = components.now();
  }

  /**
   * Writes the sealed datagram into `out` (reused by the caller) and returns its length, or -1 when it does not fit,
   * the address is too long or the template's key is unknown.
   */
  seal(
    out: Buffer,
    template: Buffer,
    local: number,
    address: string,
    port: number,
    payload: Uint8Array,
  ): number {
    const key = this.keys.keys.get(template[3]!);
    const addrLen = address.length;
    const t = template.length;
    const total = t + VAR_FIXED + addrLen + payload.length + TUNNEL_MAC_BYTES;
    if (!key || addrLen > MAX_ADDR || total > out.length) return -1;
    if (this.counter === 0xffffffff) {
      // a new incarnation rather than a wrapped counter (the receiver would take it for a replay)
      this.counter = 0;
      this.boot = Math.max(this.boot + 1, this.components.now());
    }
    template.copy(out, 0);
    out[t] = local;
    out.writeUInt16BE(port, t + 1);
    out.writeUIntBE(this.boot, t + 3, 6);
    out.writeUInt32BE(++this.counter, t + 9);
    out.writeUIntBE(this.components.now(), t + 13, 6);
    out[t + 19] = addrLen;
    out.write(address, t + VAR_FIXED, addrLen, 'latin1');
    out.set(payload, t + VAR_FIXED + addrLen);
    const end = total - TUNNEL_MAC_BYTES;
    const mac = createHmac('sha256', key).update(out.subarray(0, end)).digest();
    mac.copy(out, end, 0, TUNNEL_MAC_BYTES);
    return total;
  }
}

export type OpenFailure =
  | 'short'
  | 'bad-magic'
  | 'bad-version'
  | 'unknown-key'
  | 'bad-mac'
  | 'malformed'
  | 'not-for-us'
  | 'stale'
  | 'replay';

export type OpenResult =
  | { ok: true; from: string; local: number; address: string; port: number; payload: Buffer }
  | { ok: false; reason: OpenFailure };

const fail = (reason: OpenFailure): OpenResult => ({ ok: false, reason });

/** Opens sealed datagrams addressed to `self`: authenticates first, then checks freshness and replay. Total. */
export class TunnelOpener {
  private readonly windows = new Map<string, ReplayWindow>();

  constructor(
    private readonly components: { now: () => number },
    private readonly init: { self: string; keys: TunnelKeys; maxAgeMs: number },
  ) {}

  open(b: Buffer): OpenResult {
    if (b.length < 6 + VAR_FIXED + TUNNEL_MAC_BYTES) return fail('short');
    if (b.readUInt16BE(0) !== TUNNEL_MAGIC) return fail('bad-magic');
    if (b[2] !== TUNNEL_VERSION) return fail('bad-version');
    const key = this.init.keys.keys.get(b[3]!);
    if (!key) return fail('unknown-key');
    const end = b.length - TUNNEL_MAC_BYTES;
    const mac = createHmac('sha256', key).update(b.subarray(0, end)).digest();
    if (!timingSafeEqual(mac.subarray(0, TUNNEL_MAC_BYTES), b.subarray(end))) return fail('bad-mac');
    // authenticated from here on: a malformed header is a bug of a key holder, still never a throw
    const s = b[4]!;
    const d = b[5 + s];
    if (d === undefined) return fail('malformed');
    const t = 6 + s + d;
    if (t + VAR_FIXED > end) return fail('malformed');
    const n = b[t + 19]!;
    if (t + VAR_FIXED + n > end) return fail('malformed');
    if (b.toString('latin1', 6 + s, t) !== this.init.self) return fail('not-for-us');
    const sentAt = b.readUIntBE(t + 13, 6);
    if (Math.abs(this.components.now() - sentAt) > this.init.maxAgeMs) return fail('stale');
    const from = b.toString('latin1', 5, 5 + s);
    let w = this.windows.get(from);
    if (!w) this.windows.set(from, (w = new ReplayWindow()));
    if (w.check(b.readUIntBE(t + 3, 6), b.readUInt32BE(t + 9)) !== 'ok') return fail('replay');
    return {
      ok: true,
      from,
      local: b[t]!,
      port: b.readUInt16BE(t + 1),
      address: b.toString('latin1', t + VAR_FIXED, t + VAR_FIXED + n),
      payload: b.subarray(t + VAR_FIXED + n, end),
    };
  }
}
