/**
 * Overload control for the primary: a token bucket of new calls (INVITEs that start a dialog no worker holds yet).
 * Past it the primary refuses the INVITE itself, statelessly, with 503 and Retry-After (RFC 3261 §21.5.4), so that
 * the calls in progress, whose messages always pass, complete, instead of every call drowning in retransmissions.
 * Pure: the time comes in with each call.
 */

export interface AdmissionInit {
  /** New calls per second each ready worker completes cleanly; 0 turns admission control off. */
  callsPerWorkerPerS: number;
  /** Burst allowance, in seconds of that rate. */
  burstS: number;
}

export const ADMISSION_DEFAULTS = {
  /**
   * 2,000 new calls/s per ready worker: two Node workers complete about 4,000 calls/s cleanly on a 2-core machine
   * (docs/benchmarks/host-dispatcher.md); past that, retransmissions collapse goodput.
   */
  callsPerWorkerPerS: 2_000,
  /** Half a second of burst. */
  burstS: 0.5,
} as const satisfies AdmissionInit;

export class Admission {
  private tokens = 0;
  private last = Number.NEGATIVE_INFINITY;

  constructor(private readonly init: AdmissionInit) {}

  /** Whether a new call may start at `nowMs` with `workers` ready workers; takes a token if so. */
  admit(nowMs: number, workers: number): boolean {
    if (this.init.callsPerWorkerPerS <= 0) return true;
    if (workers <= 0) return false;
    const rate = this.init.callsPerWorkerPerS * workers;
    const cap = Math.max(1, rate * this.init.burstS);
    // the first call finds a full bucket
    this.tokens =
      this.last === Number.NEGATIVE_INFINITY
        ? cap
        : Math.min(cap, this.tokens + (Math.max(0, nowMs - this.last) * rate) / 1000);
    this.last = nowMs;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
