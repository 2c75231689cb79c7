/** The consumer side of a watch: a queue of feed events read with `for await`, closed by close(). */
import type { FeedEvent, Watch } from './types.js';

export class FeedQueue implements Watch {
  private readonly items: FeedEvent[] = [];
  private waiter: ((r: IteratorResult<FeedEvent>) => void) | undefined;
  private closed = false;
  private readonly closeHooks: Array<() => void> = [];
  private space: { below: number; resolve: () => void } | undefined;

  constructor(private readonly maxQueued = 10_000) {}

  get isClosed(): boolean {
    return this.closed;
  }

  /** Number of events waiting to be read. */
  get length(): number {
    return this.items.length;
  }

  /** False when the queue is over its bound (the producer should reset the consumer) or closed. */
  push(event: FeedEvent): boolean {
    if (this.closed) return false;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: event, done: false });
      return true;
    }
    if (this.items.length >= this.maxQueued) return false;
    this.items.push(event);
    return true;
  }

  /** Drops what is queued (before a reset: a snapshot supersedes it). */
  clear(): void {
    this.items.length = 0;
  }

  /** Resolves once fewer than `below` events are queued (or the queue closes): backpressure for pulling producers. */
  waitForSpace(below: number): Promise<void> {
    if (this.items.length < below || this.closed) return Promise.resolve();
    return new Promise((resolve) => (this.space = { below, resolve }));
  }

  private checkSpace(): void {
    if (this.space && (this.items.length < this.space.below || this.closed)) {
      const { resolve } = this.space;
      this.space = undefined;
      resolve();
    }
  }

  onClose(fn: () => void): void {
    this.closeHooks.push(fn);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.items.length = 0;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: undefined, done: true });
    }
    this.checkSpace();
    for (const fn of this.closeHooks) fn();
  }

  [Symbol.asyncIterator](): AsyncIterator<FeedEvent> {
    return {
      next: () => {
        const item = this.items.shift();
        if (item) {
          this.checkSpace();
          return Promise.resolve({ value: item, done: false });
        }
        if (this.closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (this.waiter = resolve));
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
