/**
 * A read that costs a child process (`bpftool map dump`), shared by whoever asks within `minIntervalMs`: scrapes of
 * `/metrics` in a burst (or concurrent ones) spawn one bpftool, not one each. The clock is passed in (tests: a
 * ManualClock). A failed read is not kept: the next call reads again.
 */
export class CachedRead<T> {
  private last: { at: number; value: T } | undefined;
  private inFlight: Promise<T> | undefined;
  /** reads actually made (for tests and the docs' claim) */
  reads = 0;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly now: () => number,
    private readonly minIntervalMs: number,
  ) {}

  get(): Promise<T> {
    if (this.last && this.now() - this.last.at < this.minIntervalMs) return Promise.resolve(this.last.value);
    if (this.inFlight) return this.inFlight;
    this.reads++;
    const p = this.read().then(
      (value) => {
        this.last = { at: this.now(), value };
        this.inFlight = undefined;
        return value;
      },
      (err: unknown) => {
        this.inFlight = undefined;
        throw err;
      },
    );
    this.inFlight = p;
    return p;
  }
}
