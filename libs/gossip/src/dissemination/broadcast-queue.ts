/**
 * Events waiting to be piggybacked. Each is sent at most `limit` times (λ·log N); the least-sent go first so a new
 * event overtakes old ones; a newer event about the same member or session replaces the queued one.
 */
import type { GossipEventMsg } from '../wire/messages.js';

interface Queued {
  key: string;
  event: GossipEventMsg;
  size: number;
  transmits: number;
  seq: number;
}

export class BroadcastQueue {
  private items: Queued[] = [];
  private readonly byKey = new Map<string, Queued>();
  private seq = 0;

  get length(): number {
    return this.items.length;
  }

  /** Queues `event` under `key` (`m:<id>` or `s:<session>`), replacing any queued event with the same key. */
  enqueue(key: string, event: GossipEventMsg, size: number): void {
    const old = this.byKey.get(key);
    if (old) {
      old.event = event;
      old.size = size;
      old.transmits = 0;
      old.seq = this.seq++;
      return;
    }
    const q: Queued = { key, event, size, transmits: 0, seq: this.seq++ };
    this.items.push(q);
    this.byKey.set(key, q);
  }

  /**
   * Appends to `out` the events that fit in `budget` bytes, least-transmitted (then newest) first, and counts one
   * transmission for each; events sent `limit` times leave the queue.
   */
  take(budget: number, limit: number, out: GossipEventMsg[]): void {
    if (!this.items.length) return;
    this.items.sort((a, b) => a.transmits - b.transmits || b.seq - a.seq);
    let used = 0;
    let spent = false;
    for (const q of this.items) {
      if (used + q.size > budget) continue;
      used += q.size;
      out.push(q.event);
      if (++q.transmits >= limit) spent = true;
    }
    if (spent) {
      this.items = this.items.filter((q) => {
        if (q.transmits < limit) return true;
        this.byKey.delete(q.key);
        return false;
      });
    }
  }
}
