import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { rankOf, shareOf } from '../src/share.js';

describe('shareOf', () => {
  it.each([
    // total, members, id, round, share
    [10, ['a', 'b', 'c'], 'a', 0, 4],
    [10, ['a', 'b', 'c'], 'b', 0, 3],
    [10, ['a', 'b', 'c'], 'c', 0, 3],
    [10, ['c', 'a', 'b'], 'a', 1, 3], // rotated: b has rank 0 in round 1
    [10, ['c', 'a', 'b'], 'b', 1, 4],
    [2, ['a', 'b', 'c'], 'c', 2, 1],
    [0, ['a', 'b'], 'a', 0, 0],
    [5, ['a'], 'a', 9, 5],
    [5, ['a', 'b'], 'z', 0, 0], // not a member of the round
    [7, ['a', 'a', 'b'], 'a', 0, 4], // duplicates count once
  ])('total %i over %j: %s in round %i gets %i', (total, members, id, round, want) => {
    expect(shareOf(total, members, id, round).share).toBe(want);
  });

  it('shares sum to the total and are within 1 of total/n, for any input', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100_000 }),
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 20 }),
        fc.nat(1_000_000),
        (total, members, round) => {
          const shares = members.map((m) => shareOf(total, members, m, round).share);
          expect(shares.reduce((a, b) => a + b, 0)).toBe(total);
          for (const s of shares) expect(Math.abs(s - total / members.length)).toBeLessThan(1);
          const ranks = members.map((m) => rankOf(members, m, round)).sort((a, b) => a - b);
          expect(ranks).toEqual(members.map((_, i) => i));
        },
      ),
    );
  });
});
