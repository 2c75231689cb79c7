/**
 * Time, injected. Every timer and every `now()` in Switchyard goes through a {@link Clock} so that tests can
 * drive time with {@link ManualClock.advance} instead of sleeping.
 */

/** An opaque timer handle returned by a {@link Clock}. */
export interface TimerHandle {
  readonly __timer: true;
}

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle | undefined): void;
}

interface SystemHandle extends TimerHandle {
  readonly t: ReturnType<typeof globalThis.setTimeout>;
}

/** The real clock: `Date.now()` and Node's timers. Timers are `unref`'d when `unref` is set. */
export class SystemClock implements Clock {
  constructor(private readonly init: { unref?: boolean } = {}) {}

  now(): number {
    return Date.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t = globalThis.setTimeout(fn, ms);
    if (this.init.unref) t.unref();
    return { __timer: true, t } as SystemHandle;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle) globalThis.clearTimeout((handle as SystemHandle).t);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const t = globalThis.setInterval(fn, ms);
    if (this.init.unref) t.unref();
    return { __timer: true, t } as SystemHandle;
  }

  clearInterval(handle: TimerHandle | undefined): void {
    if (handle) globalThis.clearInterval((handle as SystemHandle).t);
  }
}

/** The process-wide real clock. */
export const systemClock: Clock = new SystemClock();

interface ManualTimer extends TimerHandle {
  due: number;
  readonly seq: number;
  readonly fn: () => void;
  readonly every: number | undefined;
  cancelled: boolean;
}

/**
 * A clock for tests: time stands still until {@link advance} moves it. Timers fire in due order (ties in the order
 * they were set), each with `now()` equal to its due time; timers set while advancing fire too if they fall due
 * inside the window.
 */
export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private timers: ManualTimer[] = [];

  constructor(start = 1_700_000_000_000) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, undefined);
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle) (handle as ManualTimer).cancelled = true;
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, Math.max(1, ms));
  }

  clearInterval(handle: TimerHandle | undefined): void {
    this.clearTimeout(handle);
  }

  /** Number of timers still scheduled. */
  pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** Moves time forward by `ms`, firing every timer that falls due, in order. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`ManualClock.advance: ms must be >= 0, got ${ms}`);
    const end = this.current + ms;
    for (;;) {
      const next = this.nextDue(end);
      if (!next) break;
      this.fire(next);
    }
    this.current = end;
  }

  /**
   * Like {@link advance}, but lets promise callbacks and I/O callbacks run after each timer (one turn of the
   * event loop, not a sleep), for code that awaits between timers.
   */
  async advanceAsync(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new RangeError(`ManualClock.advanceAsync: ms must be >= 0, got ${ms}`);
    const end = this.current + ms;
    await flushEventLoop();
    for (;;) {
      const next = this.nextDue(end);
      if (!next) break;
      this.fire(next);
      await flushEventLoop();
    }
    this.current = end;
  }

  private add(fn: () => void, ms: number, every: number | undefined): TimerHandle {
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    const timer: ManualTimer = {
      __timer: true,
      due: this.current + delay,
      seq: this.seq++,
      fn,
      every,
      cancelled: false,
    };
    this.timers.push(timer);
    return timer;
  }

  private nextDue(end: number): ManualTimer | undefined {
    this.timers = this.timers.filter((t) => !t.cancelled);
    let best: ManualTimer | undefined;
    for (const t of this.timers) {
      if (t.due > end) continue;
      if (!best || t.due < best.due || (t.due === best.due && t.seq < best.seq)) best = t;
    }
    return best;
  }

  private fire(timer: ManualTimer): void {
    this.current = Math.max(this.current, timer.due);
    if (timer.every === undefined) timer.cancelled = true;
    else timer.due += timer.every;
    timer.fn();
  }
}

/** One turn of the event loop: pending promise callbacks and I/O callbacks run. Not a sleep. */
export function flushEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
