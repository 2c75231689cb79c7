/**
 * The replicated session-ownership map. Every replica applies the same total order, so all converge to the same
 * content whatever order events arrive in:
 *
 * 1. higher `epoch` wins (an assignment made later by the scheduler);
 * 2. then higher `version` (the owner's own updates: re-claim, close);
 * 3. then a close (tombstone) wins over a claim of the same epoch and version;
 * 4. then the lower host id wins (byte-wise string comparison).
 */
import { createHash } from 'node:crypto';
import type { OwnerRecord } from '../wire/messages.js';

export interface OwnerEntry {
  readonly session: string;
  readonly owner: string;
  readonly epoch: number;
  readonly version: number;
  /** A tombstone: the session was closed; kept until `expiresAt`. */
  readonly closed: boolean;
}

/** > 0 when `a` wins over `b`, < 0 when `b` wins, 0 when they are the same entry. */
export function compareEntries(a: OwnerRecord | OwnerEntry, b: OwnerRecord | OwnerEntry): number {
  if (a.epoch !== b.epoch) return a.epoch - b.epoch;
  if (a.version !== b.version) return a.version - b.version;
  if (a.closed !== b.closed) return a.closed ? 1 : -1;
  if (a.owner !== b.owner) return a.owner < b.owner ? 1 : -1;
  return 0;
}

export class OwnershipMap {
  private readonly entries = new Map<string, OwnerEntry>();
  private readonly tombstones = new Map<string, number>();

  constructor(private readonly tombstoneTtlMs: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(session: string): OwnerEntry | undefined {
    return this.entries.get(session);
  }

  /**
   * Applies `rec` if it wins over the current entry. Returns the previous entry (or null when there was none) when
   * `rec` was applied, `undefined` when it lost or was already known.
   */
  apply(rec: OwnerRecord, now: number): OwnerEntry | null | undefined {
    const cur = this.entries.get(rec.session);
    if (cur && compareEntries(rec, cur) <= 0) return undefined;
    const entry: OwnerEntry = Object.freeze({
      session: rec.session,
      owner: rec.owner,
      epoch: rec.epoch,
      version: rec.version,
      closed: rec.closed,
    });
    this.entries.set(rec.session, entry);
    if (entry.closed) this.tombstones.set(rec.session, now + this.tombstoneTtlMs);
    else this.tombstones.delete(rec.session);
    return cur ?? null;
  }

  /** Removes tombstones past their expiry; returns how many. */
  expire(now: number): number {
    let n = 0;
    for (const [session, at] of this.tombstones) {
      if (at > now) continue;
      this.tombstones.delete(session);
      this.entries.delete(session);
      n++;
    }
    return n;
  }

  values(): IterableIterator<OwnerEntry> {
    return this.entries.values();
  }

  /** Open sessions owned by `host`. */
  ownedBy(host: string): string[] {
    const out: string[] = [];
    for (const e of this.entries.values()) if (!e.closed && e.owner === host) out.push(e.session);
    return out;
  }

  /** SHA-256 (hex) over the open entries sorted by session: equal digests mean equal content. */
  digest(): string {
    const open = [...this.entries.values()]
      .filter((e) => !e.closed)
      .sort((a, b) => (a.session < b.session ? -1 : 1));
    const h = createHash('sha256');
    for (const e of open) h.update(`${e.session}\u0000${e.owner}\u0000${e.epoch}\u0000${e.version}\n`);
    return h.digest('hex');
  }
}
