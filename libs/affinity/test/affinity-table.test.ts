import { hasCode, ManualClock } from '@switchyard/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AFFINITY_TABLE_TEST_DEFAULTS, AffinityTable, type AffinityEvent } from '../src/index.js';

function setup(init = AFFINITY_TABLE_TEST_DEFAULTS) {
  const clock = new ManualClock(0);
  const table = new AffinityTable<string>({ clock }, init);
  const events: string[] = [];
  table.on((e: AffinityEvent<string>) => events.push(`${e.type}:${e.key}:${e.owner}`));
  return { clock, table, events };
}

const throwsCode = (fn: () => unknown, code: string) => {
  try {
    fn();
  } catch (err) {
    expect(hasCode(err, code), String(err)).toBe(true);
    return;
  }
  throw new Error(`expected ${code}`);
};

describe('AffinityTable', () => {
  it('binds, looks up, and refuses a second owner', () => {
    const { table, events, clock } = setup();
    clock.advance(5);
    expect(table.bind('conf-1', 'w1')).toEqual({
      key: 'conf-1',
      owner: 'w1',
      refs: 0,
      boundAt: 5,
      lastUsed: 5,
    });
    expect(table.bind('conf-1', 'w1').owner).toBe('w1');
    throwsCode(() => table.bind('conf-1', 'w2'), 'AFF_ERR_ALREADY_BOUND');
    expect(table.lookup('conf-1')).toBe('w1');
    expect(table.lookup('nope')).toBeUndefined();
    expect(table.size).toBe(1);
    expect(events).toEqual(['bind:conf-1:w1']);
  });

  it('expires an idle binding after the TTL, refreshed by lookup but not by get', () => {
    const { table, events, clock } = setup();
    table.bind('a', 'w1');
    table.bind('b', 'w1');
    clock.advance(600);
    expect(table.lookup('a')).toBe('w1'); // a's deadline moves to 1600
    expect(table.get('b')?.lastUsed).toBe(0); // b's stays at 1000
    clock.advance(400);
    expect(events).toEqual(['bind:a:w1', 'bind:b:w1', 'expire:b:w1']);
    expect(table.get('b')).toBeUndefined();
    clock.advance(599);
    expect(table.get('a')).toBeDefined();
    clock.advance(1);
    expect(table.get('a')).toBeUndefined();
    expect(events.at(-1)).toBe('expire:a:w1');
    expect(table.size).toBe(0);
    expect(clock.pending()).toBe(0);
  });

  it('keeps referenced bindings forever and starts the TTL when refs fall to 0', () => {
    const { table, clock, events } = setup();
    table.bind('k', 'w');
    expect(table.acquire('k')).toBe(1);
    expect(table.acquire('k')).toBe(2);
    clock.advance(10_000);
    expect(table.lookup('k')).toBe('w');
    expect(table.release('k')).toBe(1);
    clock.advance(10_000);
    expect(table.release('k')).toBe(0);
    expect(table.release('k')).toBe(0);
    clock.advance(999);
    expect(table.get('k')?.refs).toBe(0);
    clock.advance(1);
    expect(table.get('k')).toBeUndefined();
    expect(events).toEqual(['bind:k:w', 'expire:k:w']);
    throwsCode(() => table.acquire('k'), 'AFF_ERR_NOT_BOUND');
  });

  it('evicts the least recently used idle binding at maxEntries, and is full when all are referenced', () => {
    const { table, events } = setup({ idleTtlMs: 1_000, maxEntries: 3 });
    table.bind('a', 'w');
    table.bind('b', 'w');
    table.bind('c', 'w');
    table.lookup('a'); // b is now the least recently used
    table.acquire('c');
    table.bind('d', 'w');
    expect(events.filter((e) => e.startsWith('evict'))).toEqual(['evict:b:w']);
    expect(table.size).toBe(3);
    table.acquire('a');
    table.acquire('d');
    throwsCode(() => table.bind('e', 'w'), 'AFF_ERR_TABLE_FULL');
    expect(table.size).toBe(3);
  });

  it('unbinds by key and by owner, with events, and tracks keys per owner', () => {
    const { table, events } = setup();
    table.bind('a', 'w1');
    table.bind('b', 'w1');
    table.bind('c', 'w2');
    table.acquire('b');
    expect(table.keysOf('w1').sort()).toEqual(['a', 'b']);
    expect(table.removeOwner('w1').sort()).toEqual(['a', 'b']);
    expect(table.keysOf('w1')).toEqual([]);
    expect(table.unbind('c')).toBe(true);
    expect(table.unbind('c')).toBe(false);
    expect(events.filter((e) => e.startsWith('unbind')).sort()).toEqual([
      'unbind:a:w1',
      'unbind:b:w1',
      'unbind:c:w2',
    ]);
    expect(table.size).toBe(0);
  });

  it('uses one timer for many bindings, unsubscribes, and stop() cancels it', () => {
    const { table, clock, events } = setup();
    for (let i = 0; i < 100; i++) table.bind(`k${i}`, 'w');
    expect(clock.pending()).toBe(1);
    const off = (() => {
      const seen: string[] = [];
      const un = table.on((e) => seen.push(e.key));
      return { seen, un };
    })();
    off.un();
    table.stop();
    expect(clock.pending()).toBe(0);
    clock.advance(5_000);
    expect(off.seen).toEqual([]);
    expect(events.filter((e) => e.startsWith('expire'))).toEqual([]);
    // after stop, a binding past its deadline is still not served
    expect(table.lookup('k1')).toBeUndefined();
  });

  it('validates init, naming the field', () => {
    const clock = new ManualClock(0);
    throwsCode(() => new AffinityTable({ clock }, { idleTtlMs: 0 }), 'AFF_ERR_CONFIG');
    throwsCode(() => new AffinityTable({ clock }, { maxEntries: 1.5 }), 'AFF_ERR_CONFIG');
    expect(Object.isFrozen(new AffinityTable({ clock }).config)).toBe(true);
    expect(new AffinityTable({ clock }).config).toEqual({ idleTtlMs: 32_000, maxEntries: 1_000_000 });
  });
});

describe('AffinityTable property', () => {
  it('agrees with a simple model under random operations and time (expiry, LRU eviction, refs, events)', () => {
    type Op =
      | { k: 'bind'; key: number; owner: number }
      | { k: 'lookup' | 'get' | 'acquire' | 'release' | 'unbind'; key: number }
      | { k: 'advance'; ms: number }
      | { k: 'removeOwner'; owner: number };
    const key = fc.nat(12);
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ k: fc.constant('bind' as const), key, owner: fc.nat(2) }),
      fc.record({
        k: fc.constantFrom(
          'lookup' as const,
          'get' as const,
          'acquire' as const,
          'release' as const,
          'unbind' as const,
        ),
        key,
      }),
      fc.record({ k: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 700 }) }),
      fc.record({ k: fc.constant('removeOwner' as const), owner: fc.nat(2) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 150 }), (ops) => {
        const ttl = 1000;
        const max = 6;
        const clock = new ManualClock(0);
        const table = new AffinityTable<number>({ clock }, { idleTtlMs: ttl, maxEntries: max });
        const events: string[] = [];
        table.on((e) => events.push(`${e.type}:${e.key}`));
        const model = new Map<string, { owner: number; refs: number; lastUsed: number; touch: number }>();
        const want: string[] = [];
        let touch = 0;
        const expireModel = () => {
          const due = [...model.entries()]
            .filter(([, v]) => v.refs === 0 && v.lastUsed + ttl <= clock.now())
            .sort((a, b) => a[1].touch - b[1].touch);
          for (const [k] of due) {
            model.delete(k);
            want.push(`expire:${k}`);
          }
        };
        for (const o of ops) {
          if (o.k === 'advance') {
            // step through time so the model expires in the same order as the table
            for (let t = 0; t < o.ms; t += 50) {
              clock.advance(Math.min(50, o.ms - t));
              expireModel();
            }
            // the table's single timer may fire between our steps; compare as sets at this point
            expect([...events].sort()).toEqual([...want].sort());
            continue;
          }
          if (o.k === 'removeOwner') {
            const gone = table.removeOwner(o.owner);
            const mk = [...model.entries()].filter(([, v]) => v.owner === o.owner).map(([k]) => k);
            expect([...gone].sort()).toEqual(mk.sort());
            for (const k of gone) {
              model.delete(k);
              want.push(`unbind:${k}`);
            }
            continue;
          }
          const k = `k${o.key}`;
          const m = model.get(k);
          const now = clock.now();
          if (o.k === 'bind') {
            if (m && m.owner !== o.owner) {
              expect(() => table.bind(k, o.owner)).toThrow();
            } else if (m) {
              table.bind(k, o.owner);
              m.lastUsed = now;
              if (m.refs === 0) m.touch = touch++;
            } else {
              if (model.size >= max) {
                const idle = [...model.entries()]
                  .filter(([, v]) => v.refs === 0)
                  .sort((a, b) => a[1].touch - b[1].touch);
                if (idle.length === 0) {
                  expect(() => table.bind(k, o.owner)).toThrow();
                  continue;
                }
                model.delete(idle[0]![0]);
                want.push(`evict:${idle[0]![0]}`);
              }
              table.bind(k, o.owner);
              model.set(k, { owner: o.owner, refs: 0, lastUsed: now, touch: touch++ });
              want.push(`bind:${k}`);
            }
          } else if (o.k === 'lookup') {
            expect(table.lookup(k)).toBe(m?.owner);
            if (m) {
              m.lastUsed = now;
              if (m.refs === 0) m.touch = touch++;
            }
          } else if (o.k === 'get') {
            expect(table.get(k)?.refs).toBe(m?.refs);
          } else if (o.k === 'acquire') {
            if (!m) expect(() => table.acquire(k)).toThrow();
            else {
              expect(table.acquire(k)).toBe(++m.refs);
              m.lastUsed = now;
            }
          } else if (o.k === 'release') {
            expect(table.release(k)).toBe(m ? Math.max(0, m.refs - 1) : 0);
            if (m) {
              m.refs = Math.max(0, m.refs - 1);
              m.lastUsed = now;
              if (m.refs === 0) m.touch = touch++;
            }
          } else if (o.k === 'unbind') {
            expect(table.unbind(k)).toBe(m !== undefined);
            if (m) {
              model.delete(k);
              want.push(`unbind:${k}`);
            }
          }
          expect(table.size).toBe(model.size);
          expect(events).toEqual(want);
        }
      }),
      { numRuns: 300 },
    );
  });
});
