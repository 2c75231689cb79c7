/** Admission control of new calls: a token bucket on an injected time, table-tested. */
import { describe, expect, it } from 'vitest';
import { Admission } from '../src/index.js';

describe('Admission', () => {
  it('admits the burst, then the rate, per ready worker', () => {
    const a = new Admission({ callsPerWorkerPerS: 100, burstS: 0.5 });
    // 2 workers: 200/s, burst 100
    let admitted = 0;
    for (let i = 0; i < 150; i++) if (a.admit(0, 2)) admitted++;
    expect(admitted).toBe(100);
    // 10 ms later: 2 more tokens
    expect([a.admit(10, 2), a.admit(10, 2), a.admit(10, 2)]).toEqual([true, true, false]);
    // a quiet second refills the burst, never more
    admitted = 0;
    for (let i = 0; i < 150; i++) if (a.admit(1010, 2)) admitted++;
    expect(admitted).toBe(100);
  });

  it('admits nothing without a ready worker, everything when turned off', () => {
    expect(new Admission({ callsPerWorkerPerS: 100, burstS: 0.5 }).admit(0, 0)).toBe(false);
    const off = new Admission({ callsPerWorkerPerS: 0, burstS: 0.5 });
    for (let i = 0; i < 1000; i++) expect(off.admit(0, 1)).toBe(true);
  });
});
