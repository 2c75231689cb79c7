/** The consumer side of a watch: a queue of feed events read with `for await`, closed by close(). */
import type { FeedEvent, Watch } from './types.js';

export class FeedQueue implements Watch {
  private readonly items: FeedEvent[] = [];
  private waiter: ((r: IteratorResult<FeedEvent>) => void) | undefined;
  private closed = false;
  private readonly closeHooks: Array<() => void> = [];

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
    for (const fn of this.closeHooks) fn();
  }

  [Symbol.asyncIterator](): AsyncIterator<FeedEvent> {
    return {
      next: () => {
        const item = this.items.shift();
        if (item) return Promise.resolve({ value: item, done: false });
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
