/**
 * One conference's relay state, pure: fed a datagram's source and size, it answers where to send copies. A
 * participant is learned from the first valid RTP packet of a source address (no signalling needed), and each of
 * its packets goes to every other participant (SFU style, no mixing). Sources beyond the bound are refused.
 */
export interface Participant {
  readonly key: string;
  readonly address: string;
  readonly port: number;
  lastSeen: number;
}

export type PacketVerdict =
  | { ok: true; targets: readonly Participant[]; joined: boolean }
  | { ok: false; reason: 'not-rtp' | 'too-large' | 'full' };

export interface RoomLimits {
  maxParticipants: number;
  minPacketBytes: number;
  maxPacketBytes: number;
}

/** RTP version 2 in the first two bits (RFC 3550 §5.1). */
export function looksLikeRtp(first: number, length: number, min: number): boolean {
  return length >= min && first >> 6 === 2;
}

export class Room {
  private readonly participants = new Map<string, Participant>();
  /** Reused per packet: the others of the last sender (hot path allocates nothing when membership is stable). */
  private cache: { from: string; targets: Participant[] } | undefined;

  constructor(private readonly limits: RoomLimits) {}

  get size(): number {
    return this.participants.size;
  }

  list(): Participant[] {
    return [...this.participants.values()];
  }

  onPacket(address: string, port: number, firstByte: number, length: number, now: number): PacketVerdict {
    if (length > this.limits.maxPacketBytes) return { ok: false, reason: 'too-large' };
    if (!looksLikeRtp(firstByte, length, this.limits.minPacketBytes)) return { ok: false, reason: 'not-rtp' };
    const key = `${address}:${port}`;
    let p = this.participants.get(key);
    let joined = false;
    if (!p) {
      if (this.participants.size >= this.limits.maxParticipants) return { ok: false, reason: 'full' };
      p = { key, address, port, lastSeen: now };
      this.participants.set(key, p);
      this.cache = undefined;
      joined = true;
    }
    p.lastSeen = now;
    if (this.cache?.from !== key) {
      this.cache = { from: key, targets: [...this.participants.values()].filter((x) => x.key !== key) };
    }
    return { ok: true, targets: this.cache.targets, joined };
  }

  /** Removes participants silent for longer than `idleMs`; returns how many left. */
  sweep(now: number, idleMs: number): number {
    let n = 0;
    for (const [k, p] of this.participants)
      if (now - p.lastSeen > idleMs) {
        this.participants.delete(k);
        n++;
      }
    if (n) this.cache = undefined;
    return n;
  }
}
