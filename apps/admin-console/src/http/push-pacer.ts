/**
 * When to push the next event to the pages. Changes are batched: at most one push per `pushMs` for changes that
 * come from polls (a poll round touches many processes at once). A registry feed event is the system telling the
 * console about a change as it happens, so it waits only `feedGapMs` after the last push (not `pushMs`): a
 * pending poll batch is pulled forward and goes with it. Both keep the push rate bounded.
 */
import type { Clock, TimerHandle } from '@switchyard/core';

export class PushPacer {
  private timer: TimerHandle | undefined;
  private due = Infinity;
  private lastPushAt = -Infinity;

  constructor(
    private readonly components: { clock: Clock; push: () => void },
    private readonly init: { pushMs: number; feedGapMs: number },
  ) {}

  /** A change is waiting to go out (`urgent`: it came from the registry feed). */
  schedule(urgent: boolean): void {
    const { clock } = this.components;
    const now = clock.now();
    const gap = urgent ? Math.min(this.init.feedGapMs, this.init.pushMs) : this.init.pushMs;
    const due = Math.max(now, this.lastPushAt + gap);
    if (this.timer !== undefined) {
      if (due >= this.due) return;
      clock.clearTimeout(this.timer);
    }
    this.due = due;
    // from a timer of its own even when due now: the change's own call stack (a poll, a feed event) is not held up
    this.timer = clock.setTimeout(() => this.fire(), due - now);
  }

  /** A push is happening now (from the timer, or a page that connects takes what is pending). */
  pushed(): void {
    this.cancel();
    this.lastPushAt = this.components.clock.now();
  }

  cancel(): void {
    if (this.timer !== undefined) this.components.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.due = Infinity;
  }

  private fire(): void {
    this.timer = undefined;
    this.due = Infinity;
    this.components.push();
  }
}
