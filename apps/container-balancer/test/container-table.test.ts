/** The pure core: queue order, ties, drain, reverse readiness, sticky keys, limits; a property test against a scan. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '@switchyard/core';
import { ContainerTable, type Registration } from '../src/queues/container-table.js';

const reg = (id: string, over: Partial<Registration> = {}): Registration => ({
  id,
  service: 'mixer',
  mode: 'direct',
  address: `127.0.0.1:${1000 + id.length}`,
  capacity: 10,
  load: 0,
  state: 'serving',
  ...over,
});

const table = (init: Partial<{ maxContainers: number; maxStickyKeys: number; pickLogSize: number }> = {}) => {
  const clock = new ManualClock();
  return {
    clock,
    t: new ContainerTable({ clock }, { maxContainers: 100, maxStickyKeys: 100, pickLogSize: 0, ...init }),
  };
};

describe('ContainerTable', () => {
  it('orders by (in flight + reported) / capacity, a new container at the head on ties', () => {
    const { t, clock } = table();
    t.register(reg('a'));
    clock.advance(1);
    t.register(reg('b'));
    expect(t.pick('mixer')?.id).toBe('b'); // tie: newest first
    t.begin('b');
    expect(t.pick('mixer')?.id).toBe('a');
    t.report('a', { load: 5, capacity: 10, state: 'serving' }); // 0.5 vs b 0.1
    expect(t.pick('mixer')?.id).toBe('b');
    t.register(reg('c', { capacity: 100, load: 20 })); // 0.2
    expect(t.pick('mixer')?.id).toBe('b');
    t.end('b');
    expect(t.pick('mixer')?.score).toBe(0);
    expect(t.services()[0]!.containers.map((c) => c.id)).toEqual(['b', 'c', 'a']);
  });

  it('skips draining containers (operator or self-reported) and excluded ones; undrain restores', () => {
    const { t } = table();
    t.register(reg('a'));
    t.register(reg('b'));
    t.setDrain('b', true);
    expect(t.pick('mixer')?.id).toBe('a');
    expect(t.pick('mixer', new Set(['a']))).toBeUndefined();
    t.report('a', { load: 0, capacity: 10, state: 'draining' });
    expect(t.pick('mixer')).toBeUndefined();
    t.setDrain('b', false);
    expect(t.pick('mixer')?.id).toBe('b');
    expect(t.get('a')?.state).toBe('draining');
  });

  it('a reverse container is picked only once its connection is attached', () => {
    const { t } = table();
    t.register(reg('r', { mode: 'reverse', address: null }));
    expect(t.pick('mixer')).toBeUndefined();
    expect(t.attach('r')).toBe(true);
    expect(t.attach('r')).toBe(false);
    expect(t.pick('mixer')?.id).toBe('r');
  });

  it('sticky keys follow their container until it is dropped; the oldest key goes past the bound', () => {
    const { t } = table({ maxStickyKeys: 2 });
    t.register(reg('a'));
    t.register(reg('b'));
    t.bind('mixer', 'k1', 'a');
    t.bind('mixer', 'k2', 'a');
    expect(t.stickyFor('mixer', 'k1')?.id).toBe('a');
    t.bind('mixer', 'k3', 'b'); // k1 forgotten
    expect(t.stickyFor('mixer', 'k1')).toBeUndefined();
    expect(t.stickyFor('mixer', 'k3')?.id).toBe('b');
    expect(t.drop('a')?.id).toBe('a');
    expect(t.stickyFor('mixer', 'k2')).toBeUndefined();
    expect(t.drop('a')).toBeUndefined();
    expect(t.services()[0]!.containers.map((c) => c.id)).toEqual(['b']);
  });

  it('refuses a live duplicate id, a full table and a zero capacity', () => {
    const { t } = table({ maxContainers: 1 });
    expect(t.register(reg('a')).ok).toBe(true);
    expect(t.register(reg('a'))).toMatchObject({ ok: false, code: 'BAL_ERR_DUPLICATE_ID' });
    expect(t.register(reg('b'))).toMatchObject({ ok: false, code: 'BAL_ERR_REGISTRATION_LIMIT' });
    t.drop('a');
    expect(t.register(reg('b', { capacity: 0 }))).toMatchObject({
      ok: false,
      code: 'BAL_ERR_BAD_REGISTRATION',
    });
  });

  it('always picks a least-loaded eligible container (property, against a linear scan)', () => {
    const op = fc.oneof(
      fc.record({
        k: fc.constant('reg' as const),
        id: fc.integer({ min: 0, max: 7 }),
        cap: fc.integer({ min: 1, max: 20 }),
        load: fc.integer({ min: 0, max: 30 }),
      }),
      fc.record({
        k: fc.constant('report' as const),
        id: fc.integer({ min: 0, max: 7 }),
        load: fc.integer({ min: 0, max: 30 }),
      }),
      fc.record({ k: fc.constant('begin' as const), id: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ k: fc.constant('end' as const), id: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ k: fc.constant('drop' as const), id: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ k: fc.constant('drain' as const), id: fc.integer({ min: 0, max: 7 }), on: fc.boolean() }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const { t } = table({ pickLogSize: 1000 });
        for (const o of ops) {
          const id = `c${o.id}`;
          if (o.k === 'reg') t.register(reg(id, { capacity: o.cap, load: o.load }));
          else if (o.k === 'report')
            t.report(id, { load: o.load, capacity: t.get(id)?.capacity ?? 1, state: 'serving' });
          else if (o.k === 'begin') t.begin(id);
          else if (o.k === 'end') t.end(id);
          else if (o.k === 'drop') t.drop(id);
          else t.setDrain(id, o.on);
          const picked = t.pick('mixer');
          const all = t
            .services()
            .flatMap((s) => s.containers)
            .filter((c) => c.state === 'serving');
          if (all.length === 0) expect(picked).toBeUndefined();
          else expect(picked!.score).toBe(Math.min(...all.map((c) => c.score)));
        }
        for (const p of t.pickLog())
          expect(p.chosenScore).toBe(Math.min(...p.candidates.map((c) => c.score)));
      }),
      { numRuns: 200 },
    );
  });
});
