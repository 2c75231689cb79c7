/** When the console pushes: poll changes batched per pushMs, a registry feed change after feedGapMs at most. */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '@switchyard/core';
import { PushPacer } from '../src/http/push-pacer.js';

function setup() {
  const clock = new ManualClock(0);
  const pushes: number[] = [];
  const pacer: PushPacer = new PushPacer(
    {
      clock,
      push: () => {
        pacer.pushed();
        pushes.push(clock.now());
      },
    },
    { pushMs: 100, feedGapMs: 10 },
  );
  return { clock, pushes, pacer };
}

describe('PushPacer', () => {
  it('pushes a change after a quiet spell at once, and batches poll changes within pushMs', () => {
    const { clock, pushes, pacer } = setup();
    pacer.schedule(false);
    clock.advance(0);
    expect(pushes).toEqual([0]);
    clock.advance(20);
    pacer.schedule(false);
    clock.advance(30);
    pacer.schedule(false); // batched with the one before
    clock.advance(49);
    expect(pushes).toEqual([0]);
    clock.advance(1);
    expect(pushes).toEqual([0, 100]);
  });

  it('a feed change waits only feedGapMs after the last push and pulls a pending poll batch forward', () => {
    const { clock, pushes, pacer } = setup();
    pacer.schedule(false);
    clock.advance(0);
    clock.advance(3);
    pacer.schedule(false); // due at 100
    pacer.schedule(true); // due at 10: the same push carries both
    clock.advance(7);
    expect(pushes).toEqual([0, 10]);
    clock.advance(200);
    expect(pushes).toEqual([0, 10]);
    // feed changes in a flood: at most one push per feedGapMs
    for (let i = 0; i < 50; i++) {
      pacer.schedule(true);
      clock.advance(1);
    }
    expect(pushes.length - 2).toBeLessThanOrEqual(6);
    expect(pushes.length - 2).toBeGreaterThanOrEqual(5);
  });
});
