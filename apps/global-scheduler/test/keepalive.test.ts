import { describe, expect, it } from 'vitest';
import { KeepAliveTracker } from '../src/keepalive/keepalive.js';

describe('KeepAliveTracker', () => {
  it('marks down after `misses` failures in a row, up on the first success after', () => {
    const t = new KeepAliveTracker(3);
    expect(['x', 'x'].map(() => t.result('s', false))).toEqual(['none', 'none']);
    expect(t.result('s', true)).toBe('none'); // the run is broken
    expect(t.result('s', false)).toBe('none');
    expect(t.result('s', false)).toBe('none');
    expect(t.result('s', false)).toBe('mark-down');
    expect(t.result('s', false)).toBe('none'); // once
    expect(t.result('s', true)).toBe('mark-up');
    expect(t.result('s', true)).toBe('none');
  });

  it('takes a shared down mark set elsewhere into account', () => {
    const t = new KeepAliveTracker(2);
    expect(t.result('s', false, true)).toBe('none');
    expect(t.result('s', true, true)).toBe('mark-up');
  });
});
