/**
 * Datagram layout (all integers big-endian):
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 1 | version (1) |
 * | 1 | 1 | message type ({@link MsgType}) |
 * | 2 | 1 | key id (which keyring key signed it) |
 * | 3 | 6 | sender clock, ms since the Unix epoch (uint48) |
 * | 9 | n | msgpack body (arrays, see messages.ts) |
 * | 9+n | 32 | HMAC-SHA256 over bytes 0..9+n with the key named by the key id |
 *
 * Decoding is total: every failure is a {@link DropReason}, never a throw.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Packr } from 'msgpackr';
import type { DropReason } from '../errors.js';
import { GossipError } from '../errors.js';
import type { Keyring } from './keyring.js';
import { messageFromWire, messageToWire, type Message, type WireValue } from './messages.js';

export const WIRE_VERSION = 1;
export const HEADER_BYTES = 9;
export const MAC_BYTES = 32;

export type DecodeResult = { ok: true; msg: Message; sentAt: number } | { ok: false; reason: DropReason };

export interface CodecInit {
  maxDatagramBytes: number;
  maxMessageAgeMs: number;
}

export class Codec {
  // one packer for the process is enough: msgpackr reuses its buffer between calls
  private readonly packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });

  constructor(
    private readonly keyring: Keyring,
    private readonly init: CodecInit,
  ) {}

  /** Packed size of one value (used to budget piggybacked events). */
  sizeOf(v: WireValue): number {
    return this.packr.pack(v).length;
  }

  /** Signs and frames `msg`. Throws `GSP_ERR_TOO_LARGE` if the datagram would exceed maxDatagramBytes. */
  encode(msg: Message, now: number): Buffer {
    const body = this.packr.pack(messageToWire(msg));
    const total = HEADER_BYTES + body.length + MAC_BYTES;
    if (total > this.init.maxDatagramBytes) {
      throw new GossipError(
        'GSP_ERR_TOO_LARGE',
        `message type ${msg.type} needs ${total} bytes > ${this.init.maxDatagramBytes}`,
      );
    }
    const out = Buffer.allocUnsafe(total);
    out[0] = WIRE_VERSION;
    out[1] = msg.type;
    out[2] = this.keyring.primaryId;
    out.writeUIntBE(Math.max(0, Math.floor(now)), 3, 6);
    body.copy(out, HEADER_BYTES);
    const mac = createHmac('sha256', this.keyring.primary)
      .update(out.subarray(0, total - MAC_BYTES))
      .digest();
    mac.copy(out, total - MAC_BYTES);
    return out;
  }

  /** Authenticates and decodes one datagram received at `now`. Never throws. */
  decode(bytes: Uint8Array, now: number): DecodeResult {
    if (bytes.length > this.init.maxDatagramBytes) return { ok: false, reason: 'oversized' };
    if (bytes.length < HEADER_BYTES + MAC_BYTES + 1) return { ok: false, reason: 'too_short' };
    if (bytes[0] !== WIRE_VERSION) return { ok: false, reason: 'bad_version' };
    const type = bytes[1]!;
    if (type < 1 || type > 5) return { ok: false, reason: 'unknown_type' };
    const key = this.keyring.get(bytes[2]!);
    if (!key) return { ok: false, reason: 'unknown_key' };
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const macAt = buf.length - MAC_BYTES;
    const expected = createHmac('sha256', key).update(buf.subarray(0, macAt)).digest();
    if (!timingSafeEqual(expected, buf.subarray(macAt))) return { ok: false, reason: 'bad_mac' };
    const sentAt = buf.readUIntBE(3, 6);
    if (sentAt < now - this.init.maxMessageAgeMs) return { ok: false, reason: 'too_old' };
    if (sentAt > now + this.init.maxMessageAgeMs) return { ok: false, reason: 'from_future' };
    let body: unknown;
    try {
      body = this.packr.unpack(buf.subarray(HEADER_BYTES, macAt));
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    const msg = messageFromWire(type, body);
    return msg ? { ok: true, msg, sentAt } : { ok: false, reason: 'malformed' };
  }
}

/** Fixed cost of a message around its events: header, MAC and the largest fixed fields (ids, address, seq). */
export const MESSAGE_OVERHEAD_BYTES = HEADER_BYTES + MAC_BYTES + 2 * 66 + 66 + 16;
