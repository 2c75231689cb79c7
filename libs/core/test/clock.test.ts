import { describe, expect, it } from 'vitest';
import { ManualClock } from '../src/index.js';

describe('ManualClock', () => {
  it('fires timers in due order with now() at their due time', () => {
    const clock = new ManualClock(0);
    const seen: Array<[string, number]> = [];
    clock.setTimeout(() => seen.push(['b', clock.now()]), 20);
    clock.setTimeout(() => seen.push(['a', clock.now()]), 10);
    clock.setTimeout(() => seen.push(['c', clock.now()]), 20);
    clock.advance(15);
    expect(seen).toEqual([['a', 10]]);
    expect(clock.now()).toBe(15);
    clock.advance(5);
    expect(seen).toEqual([
      ['a', 10],
      ['b', 20],
      ['c', 20],
    ]);
  });

  it('runs intervals repeatedly and stops them when cleared', () => {
    const clock = new ManualClock(0);
    let n = 0;
    const h = clock.setInterval(() => n++, 100);
    clock.advance(350);
    expect(n).toBe(3);
    clock.clearInterval(h);
    clock.advance(1000);
    expect(n).toBe(3);
    expect(clock.pending()).toBe(0);
  });

  it('fires timers set by timers inside the same advance', () => {
    const clock = new ManualClock(0);
    const seen: number[] = [];
    clock.setTimeout(() => {
      seen.push(clock.now());
      clock.setTimeout(() => seen.push(clock.now()), 5);
    }, 5);
    clock.advance(10);
    expect(seen).toEqual([5, 10]);
  });

  it('cancels a cleared timeout and rejects negative advances', () => {
    const clock = new ManualClock(0);
    let fired = false;
    const h = clock.setTimeout(() => (fired = true), 1);
    clock.clearTimeout(h);
    clock.advance(10);
    expect(fired).toBe(false);
    expect(() => clock.advance(-1)).toThrow(RangeError);
  });

  it('advanceAsync lets awaited work run between timers', async () => {
    const clock = new ManualClock(0);
    const seen: string[] = [];
    clock.setTimeout(() => {
      void Promise.resolve().then(() => seen.push('after-first'));
      seen.push('first');
    }, 1);
    clock.setTimeout(() => seen.push('second'), 2);
    await clock.advanceAsync(2);
    expect(seen).toEqual(['first', 'after-first', 'second']);
  });
});
