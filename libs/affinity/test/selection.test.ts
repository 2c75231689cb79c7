import { hasCode } from '@switchyard/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  boundedLoadOwner,
  powerOfTwoChoices,
  rendezvousOwner,
  rendezvousRank,
  seededRng,
} from '../src/index.js';

describe('seededRng', () => {
  it('is deterministic per seed, in [0, 1), and roughly uniform', () => {
    const a = seededRng(42);
    const b = seededRng(42);
    const xs = Array.from({ length: 10_000 }, () => a.next());
    expect(xs.slice(0, 5)).toEqual(Array.from({ length: 5 }, () => b.next()));
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const buckets = new Array<number>(10).fill(0);
    for (const x of xs) buckets[Math.floor(x * 10)]!++;
    for (const n of buckets) expect(Math.abs(n - 1000)).toBeLessThan(150);
    expect(seededRng(43).next()).not.toBe(xs[0]);
  });
});

describe('powerOfTwoChoices', () => {
  it('picks the less loaded of two distinct draws, deterministically', () => {
    expect(powerOfTwoChoices([], () => 0, seededRng(1))).toBeUndefined();
    expect(powerOfTwoChoices(['only'], () => 0, seededRng(1))).toBe('only');
    const items = ['a', 'b'];
    const load = (t: string) => (t === 'a' ? 5 : 1);
    for (let s = 0; s < 50; s++) expect(powerOfTwoChoices(items, load, seededRng(s))).toBe('b');
    const many = Array.from({ length: 20 }, (_, i) => i);
    const pick = (seed: number) => powerOfTwoChoices(many, (i) => i, seededRng(seed));
    expect(pick(7)).toBe(pick(7));
  });

  it('never picks a unique most-loaded item and balances better than one random choice', () => {
    const n = 10;
    const loads = new Array<number>(n).fill(0);
    const rng = seededRng(9);
    const items = Array.from({ length: n }, (_, i) => i);
    for (let k = 0; k < 10_000; k++) {
      const max = Math.max(...loads);
      const p = powerOfTwoChoices(items, (i) => loads[i]!, rng)!;
      if (loads.filter((l) => l === max).length === 1) expect(loads[p]).toBeLessThan(max);
      loads[p]!++;
    }
    // one random choice would give a spread of order sqrt(1000) ~ 30; two choices keep it within a few
    expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(4);
  });
});

describe('rendezvous hashing', () => {
  const members = Array.from({ length: 10 }, (_, i) => `host-${i}`);

  it('ranks all members, owner first, the same regardless of member order', () => {
    const rank = rendezvousRank('conf-42', members);
    expect([...rank].sort()).toEqual([...members].sort());
    expect(rendezvousOwner('conf-42', members)).toBe(rank[0]);
    expect(rendezvousRank('conf-42', [...members].reverse())).toEqual(rank);
    expect(rendezvousOwner('x', [])).toBeUndefined();
  });

  it('spreads keys evenly', () => {
    const counts = new Map<string, number>();
    for (let k = 0; k < 20_000; k++) {
      const o = rendezvousOwner(`call-${k}@example`, members)!;
      counts.set(o, (counts.get(o) ?? 0) + 1);
    }
    for (const m of members) expect(Math.abs(counts.get(m)! - 2000)).toBeLessThan(250);
  });

  it('property: a member joining or leaving moves only the keys it wins or held (about 1/N)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 12 }), fc.string({ minLength: 1, maxLength: 8 }), (n, salt) => {
        const ms = Array.from({ length: n }, (_, i) => `${salt}-m${i}`);
        const joiner = `${salt}-new`;
        const leaver = ms[0]!;
        const keys = Array.from({ length: 1500 }, (_, k) => `${salt}/key-${k}`);
        let joinMoves = 0;
        let leaveMoves = 0;
        for (const key of keys) {
          const before = rendezvousOwner(key, ms)!;
          const afterJoin = rendezvousOwner(key, [...ms, joiner])!;
          if (afterJoin !== before) {
            expect(afterJoin).toBe(joiner); // a key only ever moves to the new member
            joinMoves++;
          }
          const afterLeave = rendezvousOwner(key, ms.slice(1))!;
          if (afterLeave !== before) {
            expect(before).toBe(leaver); // only the leaver's keys move
            leaveMoves++;
          } else expect(before).not.toBe(leaver);
        }
        // expected 1/(n+1) and 1/n of the keys; allow 5 standard deviations
        const tol = (p: number) => 5 * Math.sqrt((p * (1 - p)) / keys.length) + 0.01;
        expect(Math.abs(joinMoves / keys.length - 1 / (n + 1))).toBeLessThan(tol(1 / (n + 1)));
        expect(Math.abs(leaveMoves / keys.length - 1 / n)).toBeLessThan(tol(1 / n));
      }),
      { numRuns: 40 },
    );
  });
});

describe('boundedLoadOwner', () => {
  it('keeps the HRW owner until it is over c times the mean, then spills to the next choice', () => {
    const ids = ['a', 'b', 'c', 'd'];
    const key = 'conf-9';
    const rank = rendezvousRank(key, ids);
    const even = ids.map((id) => ({ id, load: 10 }));
    expect(boundedLoadOwner(key, even)).toBe(rank[0]);
    const hot = ids.map((id) => ({ id, load: id === rank[0] ? 40 : 10 }));
    expect(boundedLoadOwner(key, hot)).toBe(rank[1]);
    expect(boundedLoadOwner(key, hot, 3)).toBe(rank[0]); // mean(load+1)=18.5, 3*18.5 >= 41
    expect(boundedLoadOwner(key, [])).toBeUndefined();
  });

  it('property: always returns a member within the bound', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(100), { minLength: 1, maxLength: 12 }),
        fc.string(),
        fc.double({ min: 1, max: 3, noNaN: true }),
        (loads, key, c) => {
          const ms = loads.map((load, i) => ({ id: `m${i}`, load }));
          const id = boundedLoadOwner(key, ms, c)!;
          const mean = ms.reduce((s, m) => s + m.load + 1, 0) / ms.length;
          const chosen = ms.find((m) => m.id === id)!;
          expect(chosen.load + 1).toBeLessThanOrEqual(c * mean + 1e-9);
          // and it is the first in HRW order that fits
          for (const other of rendezvousRank(
            key,
            ms.map((m) => m.id),
          )) {
            if (other === id) break;
            expect(ms.find((m) => m.id === other)!.load + 1).toBeGreaterThan(c * mean - 1e-9);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('rejects a factor below 1 and bad loads', () => {
    const err = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return hasCode(e, 'AFF_ERR_BAD_FACTOR')
          ? 'factor'
          : hasCode(e, 'AFF_ERR_BAD_LOAD')
            ? 'load'
            : 'other';
      }
      return 'none';
    };
    expect(err(() => boundedLoadOwner('k', [{ id: 'a', load: 1 }], 0.9))).toBe('factor');
    expect(err(() => boundedLoadOwner('k', [{ id: 'a', load: Number.NaN }]))).toBe('load');
  });
});
