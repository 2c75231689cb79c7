import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareEntries, OwnershipMap, type OwnerRecord } from '../src/index.js';

const rec = (owner: string, epoch: number, version: number, closed = false, session = 's'): OwnerRecord => ({
  session,
  owner,
  epoch,
  version,
  closed,
});

describe('ownership order', () => {
  it('higher epoch, then higher version, then close over claim, then lower host id', () => {
    expect(compareEntries(rec('b', 2, 1), rec('a', 1, 9))).toBeGreaterThan(0);
    expect(compareEntries(rec('b', 1, 3), rec('a', 1, 2))).toBeGreaterThan(0);
    expect(compareEntries(rec('b', 1, 3, true), rec('a', 1, 3))).toBeGreaterThan(0);
    expect(compareEntries(rec('a', 1, 3), rec('b', 1, 3))).toBeGreaterThan(0);
    expect(compareEntries(rec('a', 1, 3), rec('a', 1, 3))).toBe(0);
  });

  it('every delivery order converges to the same map (property)', () => {
    const arbRec = fc.record({
      session: fc.constantFrom('s1', 's2', 's3'),
      owner: fc.constantFrom('h1', 'h2', 'h3'),
      epoch: fc.integer({ min: 0, max: 3 }),
      version: fc.integer({ min: 0, max: 3 }),
      closed: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(arbRec, { maxLength: 30 }), fc.func(fc.integer()), (recs, _f) => {
        const a = new OwnershipMap(60_000);
        const b = new OwnershipMap(60_000);
        for (const r of recs) a.apply(r, 0);
        for (const r of [...recs].reverse()) b.apply(r, 0);
        // duplicates are harmless too
        for (const r of recs) b.apply(r, 0);
        expect([...b.values()].sort((x, y) => (x.session < y.session ? -1 : 1))).toEqual(
          [...a.values()].sort((x, y) => (x.session < y.session ? -1 : 1)),
        );
        expect(a.digest()).toBe(b.digest());
      }),
      { numRuns: 500, seed: 4 },
    );
  });

  it('tombstones expire after their TTL; open entries do not', () => {
    const m = new OwnershipMap(1000);
    m.apply(rec('a', 1, 1, false, 'open'), 0);
    m.apply(rec('a', 1, 2, true, 'gone'), 0);
    expect(m.expire(999)).toBe(0);
    expect(m.expire(1000)).toBe(1);
    expect(m.get('gone')).toBeUndefined();
    expect(m.get('open')).toBeDefined();
    expect(m.ownedBy('a')).toEqual(['open']);
  });
});
