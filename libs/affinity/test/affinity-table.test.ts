import { hasCode, ManualClock } from '@switchyard/core';
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
