import { describe, expect, it } from 'vitest';
import { KeepAliveTracker } from '../src/keepalive/keepalive.js';
import { probeTargetOf } from '../src/keepalive/probe.js';

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

  it.each([
    [{ probe: 'sip' }, { kind: 'sip', address: '127.0.0.1:5060' }],
    [{ probe: 'http://127.0.0.1:8/healthz' }, { kind: 'http', url: 'http://127.0.0.1:8/healthz' }],
    [
      { probe: 'http', probeUrl: 'http://h:1/x' },
      { kind: 'http', url: 'http://h:1/x' },
    ],
    [{ probe: 'http' }, { kind: 'none' }],
    [{ probe: 'ftp://x' }, { kind: 'none' }],
    [{}, { kind: 'none' }],
  ])('probe target of meta %j (contract C1)', (meta, target) => {
    expect(probeTargetOf({ address: '127.0.0.1:5060', meta })).toEqual(target);
  });
});
