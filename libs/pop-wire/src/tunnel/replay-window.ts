/**
 * Anti-replay sliding window (the IPsec scheme, RFC 4303 §3.4.3, with a 1024-packet bitmap as in RFC 6479) per
 * sender incarnation: `boot` orders incarnations (a restarted sender starts a new window), `counter` numbers packets.
 */
const BITS = 1024;

export type ReplayVerdict = 'ok' | 'replay' | 'old-incarnation';

export class ReplayWindow {
  private boot = -1;
  private top = -1;
  private readonly bits = new Uint32Array(BITS / 32);

  /** Checks and records one packet; only an `'ok'` packet is recorded. */
  check(boot: number, counter: number): ReplayVerdict {
    if (boot < this.boot) return 'old-incarnation';
    if (boot > this.boot) {
      this.boot = boot;
      this.top = counter;
      this.bits.fill(0);
      this.set(counter);
      return 'ok';
    }
    if (counter > this.top) {
      if (counter - this.top >= BITS) this.bits.fill(0);
      else for (let c = this.top + 1; c < counter; c++) this.clear(c);
      this.top = counter;
      this.set(counter);
      return 'ok';
    }
    if (this.top - counter >= BITS || this.has(counter)) return 'replay';
    this.set(counter);
    return 'ok';
  }

  private set(c: number): void {
    const i = c % BITS;
    this.bits[i >>> 5]! |= 1 << (i & 31);
  }
  private clear(c: number): void {
    const i = c % BITS;
    this.bits[i >>> 5]! &= ~(1 << (i & 31));
  }
  private has(c: number): boolean {
    const i = c % BITS;
    return (this.bits[i >>> 5]! & (1 << (i & 31))) !== 0;
  }
}
