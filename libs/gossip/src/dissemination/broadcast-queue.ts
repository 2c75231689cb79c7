/**
 * Events waiting to be piggybacked. Each is sent at most `limit` times (λ·log N); the least-sent go first (fresh
 * events newest first) so a new event overtakes old ones; a newer event about the same member or session replaces the
 * queued one. Items sit in one bucket per transmit count, so taking is O(events taken), not a sort of the queue.
 */
import type { GossipEventMsg } from '../wire/messages.js';

interface Queued {
  readonly key: string;
  readonly event: GossipEventMsg;
  readonly size: number;
  transmits: number;
  /** Replaced by a newer event with the same key: skipped and dropped when reached. */
  stale: boolean;
}

export class BroadcastQueue {
  private readonly buckets: Queued[][] = [];
  private readonly byKey = new Map<string, Queued>();
  private readonly moved: Queued[] = [];

  /** Events queued (replaced ones not counted). */
  get length(): number {
    return this.byKey.size;
  }

  /** Queues `event` under `key` (`m:<id>` or `s:<session>`), replacing any queued event with the same key. */
  enqueue(key: string, event: GossipEventMsg, size: number): void {
    const old = this.byKey.get(key);
    if (old) old.stale = true;
    const q: Queued = { key, event, size, transmits: 0, stale: false };
    this.byKey.set(key, q);
    (this.buckets[0] ??= []).push(q);
  }

  /**
   * Appends to `out` the events that fit in `budget` bytes, least-transmitted (then newest) first, and counts one
   * transmission for each; events sent `limit` times leave the queue.
   */
  take(budget: number, limit: number, out: GossipEventMsg[]): void {
    if (!this.byKey.size) return;
    let used = 0;
    const moved = this.moved;
    outer: for (let t = 0; t < this.buckets.length; t++) {
      const b = this.buckets[t];
      if (!b) continue;
      while (b.length) {
        const q = b[b.length - 1]!;
        if (q.stale) {
          b.pop();
          continue;
        }
        if (used + q.size > budget) break outer;
        b.pop();
        used += q.size;
        out.push(q.event);
        q.transmits++;
        if (q.transmits >= limit) this.byKey.delete(q.key);
        else moved.push(q);
      }
    }
    // re-bucket after the walk so an event is taken once per message
    for (const q of moved) (this.buckets[q.transmits] ??= []).push(q);
    moved.length = 0;
  }
}
