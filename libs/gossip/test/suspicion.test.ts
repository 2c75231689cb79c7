import { describe, expect, it } from 'vitest';
import { remainingSuspicionTime, suspicionBounds, suspicionTimeout } from '../src/index.js';

const cfg = { suspicionMult: 4, suspicionMaxTimeoutMult: 6, probeIntervalMs: 1000 };

describe('suspicion arithmetic', () => {
  it.each([
    // n, minMs, maxMs, k
    [1, 4000, 24_000, 0],
    [3, 4000, 24_000, 1],
    [10, 4000, 24_000, 2],
    [100, 8000, 48_000, 2],
    [200, 9204, 55_224, 2],
    [1000, 12_000, 72_000, 2],
  ])('bounds for n=%i', (n, minMs, maxMs, k) => {
    expect(suspicionBounds(n, cfg)).toEqual({ minMs, maxMs, k });
  });

  it.each([
    // confirmations, elapsed, remaining (n = 100: min 8 s, max 48 s, k = 2)
    [0, 0, 48_000],
    [0, 10_000, 38_000],
    [1, 0, 22_762],
    [2, 0, 8000],
    [3, 0, 8000],
    [2, 9000, -1000],
  ])('remaining with %i confirmations after %i ms', (c, elapsed, remaining) => {
    expect(remainingSuspicionTime(c, elapsed, suspicionBounds(100, cfg))).toBe(remaining);
  });

  it('never goes under the minimum and uses it when no confirmation is expected', () => {
    const b = suspicionBounds(2, cfg);
    expect(b.k).toBe(0);
    expect(suspicionTimeout(0, b)).toBe(b.minMs);
    const b2 = suspicionBounds(50, cfg);
    for (let c = 0; c < 20; c++) expect(suspicionTimeout(c, b2)).toBeGreaterThanOrEqual(b2.minMs);
  });
});
