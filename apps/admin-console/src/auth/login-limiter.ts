/**
 * Failed login attempts per client address in a fixed window, bounded in memory: at most `maxAddresses` are
 * tracked (the oldest window is dropped first), so a flood from many addresses cannot grow it without bound.
 * Pure: the caller passes `now`.
 */
export interface LoginLimiterInit {
  /** Failed attempts allowed per address per window. */
  attempts: number;
  windowMs: number;
  maxAddresses: number;
}

export class LoginLimiter {
  private readonly failures = new Map<string, { start: number; count: number }>();

  constructor(private readonly init: LoginLimiterInit) {}

  /** Ms until `addr` may try again; 0 when it may try now. */
  retryAfterMs(addr: string, now: number): number {
    const f = this.failures.get(addr);
    if (!f) return 0;
    if (now - f.start >= this.init.windowMs) {
      this.failures.delete(addr);
      return 0;
    }
    return f.count >= this.init.attempts ? f.start + this.init.windowMs - now : 0;
  }

  fail(addr: string, now: number): void {
    const f = this.failures.get(addr);
    if (f && now - f.start < this.init.windowMs) {
      f.count++;
      return;
    }
    this.failures.delete(addr);
    if (this.failures.size >= this.init.maxAddresses) {
      const oldest = this.failures.keys().next().value;
      if (oldest !== undefined) this.failures.delete(oldest);
    }
    this.failures.set(addr, { start: now, count: 1 });
  }

  /** A good login clears the address's failures. */
  succeed(addr: string): void {
    this.failures.delete(addr);
  }

  get tracked(): number {
    return this.failures.size;
  }
}
