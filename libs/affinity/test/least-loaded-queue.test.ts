import { hasCode } from '@switchyard/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LeastLoadedQueue } from '../src/index.js';

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return hasCode(err, (err as { code: string }).code)
      ? (err as { code: string }).code
      : 'not-an-AffinityError';
  }
  return undefined;
};

describe('LeastLoadedQueue', () => {
  it('keeps the least loaded at the head and puts a new entry ahead of older ones on equal load', () => {
    const q = new LeastLoadedQueue<string>();
    q.add('a', 'A', 3);
    q.add('b', 'B', 1);
    q.add('c', 'C', 1);
    expect(q.peek()?.id).toBe('c');
    q.add('d', 'D'); // load 0: new container at the head
    expect(q.peek()).toMatchObject({ id: 'd', value: 'D', load: 0 });
    q.update('d', 5);
    expect(q.sorted().map((e) => e.id)).toEqual(['c', 'b', 'a', 'd']);
    q.update('a', 0);
    expect(q.pop()?.id).toBe('a');
    expect(q.remove('c')).toBe(true);
    expect(q.remove('c')).toBe(false);
    expect(q.has('b')).toBe(true);
    expect(q.get('b')?.load).toBe(1);
    expect(q.size).toBe(2);
    expect(q.pop()?.id).toBe('b');
    expect(q.pop()?.id).toBe('d');
    expect(q.pop()).toBeUndefined();
    expect(q.peek()).toBeUndefined();
  });

  it('rejects duplicates, unknown ids and bad loads with typed errors', () => {
    const q = new LeastLoadedQueue<number>();
    q.add('x', 1);
    expect(codeOf(() => q.add('x', 2))).toBe('AFF_ERR_DUPLICATE');
    expect(codeOf(() => q.update('y', 1))).toBe('AFF_ERR_NOT_FOUND');
    expect(codeOf(() => q.update('x', Number.NaN))).toBe('AFF_ERR_BAD_LOAD');
    expect(codeOf(() => q.update('x', -1))).toBe('AFF_ERR_BAD_LOAD');
    expect(codeOf(() => q.add('z', 0, Infinity))).toBe('AFF_ERR_BAD_LOAD');
    expect(q.size).toBe(1);
  });

  it('peekMatching returns the least-loaded matching entry', () => {
    const q = new LeastLoadedQueue<{ draining: boolean }>();
    for (let i = 0; i < 50; i++) q.add(`n${i}`, { draining: i % 7 !== 3 }, i % 10);
    // matching: i = 3, 10, 17, 24, 31, 38, 45 with loads 3, 0, 7, 4, 1, 8, 5
    expect(q.peekMatching((e) => !e.value.draining)?.id).toBe('n10');
    expect(q.peekMatching(() => false)).toBeUndefined();
  });

  it('property: the head is always a minimum, order and peekMatching agree with a sorted model', () => {
    type Op = { k: 'add' | 'update' | 'remove' | 'pop'; id: number; load: number };
    const op = fc.record({
      k: fc.constantFrom('add', 'add', 'update', 'update', 'remove', 'pop'),
      id: fc.nat(30),
      load: fc.nat(8),
    }) as fc.Arbitrary<Op>;
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), fc.nat(4), (ops, mod) => {
        const q = new LeastLoadedQueue<number>();
        const model = new Map<string, { load: number; seq: number }>();
        let seq = 0;
        const order = () =>
          [...model.entries()].sort((a, b) => a[1].load - b[1].load || b[1].seq - a[1].seq).map((e) => e[0]);
        for (const o of ops) {
          const id = `i${o.id}`;
          if (o.k === 'add' && !model.has(id)) {
            q.add(id, o.id, o.load);
            model.set(id, { load: o.load, seq: seq++ });
          } else if (o.k === 'update' && model.has(id)) {
            q.update(id, o.load);
            model.get(id)!.load = o.load;
          } else if (o.k === 'remove') {
            expect(q.remove(id)).toBe(model.delete(id));
          } else if (o.k === 'pop') {
            const want = order()[0];
            expect(q.pop()?.id).toBe(want);
            if (want) model.delete(want);
          }
          const min = Math.min(...[...model.values()].map((v) => v.load));
          if (model.size > 0) expect(q.peek()!.load).toBe(min);
          expect(q.size).toBe(model.size);
        }
        expect(q.sorted().map((e) => e.id)).toEqual(order());
        const pred = (e: { value: number }) => e.value % 5 === mod;
        expect(q.peekMatching(pred)?.id).toBe(order().find((id) => Number(id.slice(1)) % 5 === mod));
      }),
      { numRuns: 500 },
    );
  });
});
