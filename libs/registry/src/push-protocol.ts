/**
 * The direct push channel's wire format and its pure core. A frame is a 4-byte big-endian length, then a msgpack
 * message. {@link PushPeer} is the subscriber's state for one publisher: fed decoded messages and clock ticks, it
 * returns events; the socket code around it only moves bytes.
 */
import { Packr } from 'msgpackr';
import { RegistryError } from './errors.js';
import type { RecordPatch, ServiceRecord } from './types.js';
import { applyPatch, normalizeInput, type RecordBody, type RecordLimits } from './validate.js';

export const PUSH_PROTOCOL_VERSION = 1;

export type PushMessage =
  /** Full service information, sent on connect and every heartbeat interval. */
  | { v: 1; k: 'hb'; seq: number; record: RecordBody }
  /** What changed, sent at once on change. */
  | { v: 1; k: 'delta'; seq: number; patch: RecordPatch }
  /** Graceful goodbye: the publisher stops on purpose. */
  | { v: 1; k: 'bye'; seq: number };

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** Encodes one message as a frame. */
export function encodeFrame(msg: PushMessage): Buffer {
  const body = packr.pack(msg);
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}

/** Splits a byte stream into frame bodies. Throws REG_ERR_BAD_FRAME on a zero or oversized length. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly maxFrameBytes: number) {}

  /** Appends `chunk` and returns every complete frame body (views into one buffer: decode before the next push). */
  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    let off = 0;
    while (this.buf.length - off >= 4) {
      const len = this.buf.readUInt32BE(off);
      if (len === 0 || len > this.maxFrameBytes) {
        throw new RegistryError('REG_ERR_BAD_FRAME', `frame length ${len} outside 1..${this.maxFrameBytes}`, {
          details: { len },
        });
      }
      if (this.buf.length - off - 4 < len) break;
      out.push(this.buf.subarray(off + 4, off + 4 + len));
      off += 4 + len;
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(off);
    return out;
  }
}

const badMessage = (why: string, cause?: unknown): RegistryError =>
  new RegistryError('REG_ERR_BAD_MESSAGE', `bad push message: ${why}`, cause === undefined ? {} : { cause });

/** Decodes and validates one frame body. Throws REG_ERR_BAD_MESSAGE (or a record error) on anything else. */
export function decodeMessage(body: Buffer, limits: RecordLimits): PushMessage {
  let m: unknown;
  try {
    m = packr.unpack(body);
  } catch (err) {
    throw badMessage('not msgpack', err);
  }
  if (m === null || typeof m !== 'object') throw badMessage('not a map');
  const o = m as Record<string, unknown>;
  if (o['v'] !== PUSH_PROTOCOL_VERSION) throw badMessage(`unsupported version ${String(o['v'])}`);
  const seq = o['seq'];
  if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0)
    throw badMessage('seq must be an integer >= 0');
  try {
    switch (o['k']) {
      case 'hb': {
        // the heartbeat carries no TTL: the subscriber's deadline plays that part; 1 ms passes the TTL check
        const { body: record } = normalizeInput({ ...(o['record'] as object), ttlMs: 1 }, limits);
        return { v: 1, k: 'hb', seq, record };
      }
      case 'delta': {
        const patch = o['patch'];
        applyPatch(
          {
            id: 'x',
            service: 'x',
            address: 'x',
            region: 'x',
            load: 0,
            capacity: 0,
            state: 'serving',
            meta: {},
          },
          patch,
          limits,
        );
        return { v: 1, k: 'delta', seq, patch: patch as RecordPatch };
      }
      case 'bye':
        return { v: 1, k: 'bye', seq };
      default:
        throw badMessage(`unknown kind ${String(o['k'])}`);
    }
  } catch (err) {
    if (err instanceof RegistryError && err.code !== 'REG_ERR_BAD_MESSAGE')
      throw badMessage(err.message, err);
    throw err;
  }
}

export type PushEvent =
  /** First heartbeat of a publisher: its full record. */
  | { type: 'up'; record: ServiceRecord }
  /** A delta, or a heartbeat whose content differs from what was known. */
  | { type: 'changed'; record: ServiceRecord }
  | { type: 'heartbeat'; record: ServiceRecord }
  /** The publisher said goodbye. */
  | { type: 'down'; record: ServiceRecord | undefined }
  /** Silence past the deadline, or the connection dropped without a goodbye. */
  | { type: 'failed'; record: ServiceRecord | undefined; reason: string };

/**
 * The subscriber's view of one publisher. `revision` counts changes seen on this channel; `expiresAt` is the
 * deadline (last message + deadlineMs) on the subscriber's clock.
 */
export class PushPeer {
  private record: ServiceRecord | undefined;
  private lastSeen: number;
  private lastSeq = -1;
  private over = false;

  constructor(
    private readonly deadlineMs: number,
    now: number,
    private readonly limits: RecordLimits,
  ) {
    this.lastSeen = now;
  }

  get current(): ServiceRecord | undefined {
    return this.record;
  }

  get finished(): boolean {
    return this.over;
  }

  /** Throws REG_ERR_BAD_MESSAGE on a protocol violation (delta before the first heartbeat, seq going back). */
  onMessage(msg: PushMessage, now: number): PushEvent[] {
    if (this.over) return [];
    if (msg.seq <= this.lastSeq) throw badMessage(`seq ${msg.seq} after ${this.lastSeq}`);
    this.lastSeq = msg.seq;
    this.lastSeen = now;
    const expiresAt = now + this.deadlineMs;
    switch (msg.k) {
      case 'hb': {
        const prev = this.record;
        const same = prev !== undefined && sameBody(prev, msg.record);
        this.record = {
          ...msg.record,
          revision: same ? prev.revision : (prev?.revision ?? 0) + 1,
          expiresAt,
        };
        if (!prev) return [{ type: 'up', record: this.record }];
        return [{ type: same ? 'heartbeat' : 'changed', record: this.record }];
      }
      case 'delta': {
        if (!this.record) throw badMessage('delta before the first heartbeat');
        const body = applyPatch(this.record, msg.patch, this.limits);
        this.record = { ...this.record, ...body, revision: this.record.revision + 1, expiresAt };
        return [{ type: 'changed', record: this.record }];
      }
      case 'bye':
        this.over = true;
        return [{ type: 'down', record: this.record }];
    }
  }

  onTick(now: number): PushEvent[] {
    if (this.over || now - this.lastSeen <= this.deadlineMs) return [];
    this.over = true;
    return [
      {
        type: 'failed',
        record: this.record,
        reason: `silent for ${now - this.lastSeen} ms (deadline ${this.deadlineMs} ms)`,
      },
    ];
  }

  onClose(reason: string): PushEvent[] {
    if (this.over) return [];
    this.over = true;
    return [{ type: 'failed', record: this.record, reason }];
  }
}

function sameBody(a: RecordBody, b: RecordBody): boolean {
  return (
    a.id === b.id &&
    a.service === b.service &&
    a.address === b.address &&
    a.region === b.region &&
    a.load === b.load &&
    a.capacity === b.capacity &&
    a.state === b.state &&
    JSON.stringify(a.meta) === JSON.stringify(b.meta)
  );
}
