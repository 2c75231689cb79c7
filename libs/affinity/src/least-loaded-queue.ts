/**
 * Least-loaded queue: an indexed binary min-heap ordered by (load ascending, then newest-added first). The index
 * (id → heap slot) makes update and remove O(log n). Newest-first on ties puts a newly registered container at the
 * head of its service's queue, as the balancer's source document requires.
 */
import { AffinityError } from './errors.js';

export interface QueueEntry<T> {
  readonly id: string;
  readonly value: T;
  readonly load: number;
}

interface Node<T> {
  id: string;
  value: T;
  load: number;
  /** Insertion order: higher is newer, and newer wins ties. */
  seq: number;
  /** Current slot in the heap array. */
  pos: number;
}

function checkLoad(id: string, load: number): void {
  if (!(Number.isFinite(load) && load >= 0)) {
    throw new AffinityError(
      'AFF_ERR_BAD_LOAD',
      `load of ${JSON.stringify(id)} must be a finite number >= 0, got ${load}`,
      {
        details: { id, load },
      },
    );
  }
}

/** a ahead of b? */
function before<T>(a: Node<T>, b: Node<T>): boolean {
  return a.load < b.load || (a.load === b.load && a.seq > b.seq);
}

/**
 * Entries handed out (peek, pop, get …) are live views: their `load` follows later updates while they are queued.
 */
export class LeastLoadedQueue<T> {
  private readonly heap: Node<T>[] = [];
  private readonly index = new Map<string, Node<T>>();
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  /** Throws AFF_ERR_DUPLICATE if `id` is queued, AFF_ERR_BAD_LOAD for a NaN, infinite or negative load. */
  add(id: string, value: T, load = 0): void {
    checkLoad(id, load);
    if (this.index.has(id)) {
      throw new AffinityError('AFF_ERR_DUPLICATE', `${JSON.stringify(id)} is already queued`, {
        details: { id },
      });
    }
    const node: Node<T> = { id, value, load, seq: this.seq++, pos: this.heap.length };
    this.heap.push(node);
    this.index.set(id, node);
    this.up(node.pos);
  }

  /** Throws AFF_ERR_NOT_FOUND if `id` is not queued, AFF_ERR_BAD_LOAD for a NaN, infinite or negative load. */
  update(id: string, load: number): void {
    checkLoad(id, load);
    const node = this.index.get(id);
    if (!node)
      throw new AffinityError('AFF_ERR_NOT_FOUND', `${JSON.stringify(id)} is not queued`, {
        details: { id },
      });
    const old = node.load;
    node.load = load;
    if (load < old) this.up(node.pos);
    else if (load > old) this.down(node.pos);
  }

  remove(id: string): boolean {
    const node = this.index.get(id);
    if (!node) return false;
    this.removeAt(node.pos);
    return true;
  }

  peek(): QueueEntry<T> | undefined {
    return this.heap[0];
  }

  pop(): QueueEntry<T> | undefined {
    const top = this.heap[0];
    if (top) this.removeAt(0);
    return top;
  }

  get(id: string): QueueEntry<T> | undefined {
    return this.index.get(id);
  }

  has(id: string): boolean {
    return this.index.has(id);
  }

  /**
   * The least-loaded entry that matches `pred` (e.g. not draining). Best-first search down the heap: children are
   * explored only below entries that did not match, so it visits O(k log k) nodes for k rejected entries.
   */
  peekMatching(pred: (e: QueueEntry<T>) => boolean): QueueEntry<T> | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    if (pred(h[0]!)) return h[0];
    // frontier: a small min-heap of heap slots, ordered like the queue
    const frontier: number[] = [];
    const push = (slot: number) => {
      if (slot >= h.length) return;
      frontier.push(slot);
      let i = frontier.length - 1;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!before(h[frontier[i]!]!, h[frontier[p]!]!)) break;
        [frontier[i], frontier[p]] = [frontier[p]!, frontier[i]!];
        i = p;
      }
    };
    const popFront = (): number => {
      const top = frontier[0]!;
      const last = frontier.pop()!;
      if (frontier.length > 0) {
        frontier[0] = last;
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < frontier.length && before(h[frontier[l]!]!, h[frontier[m]!]!)) m = l;
          if (r < frontier.length && before(h[frontier[r]!]!, h[frontier[m]!]!)) m = r;
          if (m === i) break;
          [frontier[i], frontier[m]] = [frontier[m]!, frontier[i]!];
          i = m;
        }
      }
      return top;
    };
    push(1);
    push(2);
    while (frontier.length > 0) {
      const slot = popFront();
      const node = h[slot]!;
      if (pred(node)) return node;
      push(2 * slot + 1);
      push(2 * slot + 2);
    }
    return undefined;
  }

  /** All entries in queue order (a copy), for display. */
  sorted(): QueueEntry<T>[] {
    return [...this.heap].sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
  }

  private removeAt(pos: number): void {
    const h = this.heap;
    const node = h[pos]!;
    const last = h.pop()!;
    this.index.delete(node.id);
    if (last !== node) {
      h[pos] = last;
      last.pos = pos;
      this.up(pos);
      this.down(last.pos);
    }
  }

  private up(pos: number): void {
    const h = this.heap;
    const node = h[pos]!;
    while (pos > 0) {
      const p = (pos - 1) >> 1;
      const parent = h[p]!;
      if (!before(node, parent)) break;
      h[pos] = parent;
      parent.pos = pos;
      pos = p;
    }
    h[pos] = node;
    node.pos = pos;
  }

  private down(pos: number): void {
    const h = this.heap;
    const n = h.length;
    const node = h[pos]!;
    for (;;) {
      const l = 2 * pos + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(h[r]!, h[l]!) ? r : l;
      const child = h[c]!;
      if (!before(child, node)) break;
      h[pos] = child;
      child.pos = pos;
      pos = c;
    }
    h[pos] = node;
    node.pos = pos;
  }
}
