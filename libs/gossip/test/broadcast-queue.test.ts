import { describe, expect, it } from 'vitest';
import { BroadcastQueue, type GossipEventMsg } from '../src/index.js';

const claim = (session: string, version = 1): GossipEventMsg => ({
  kind: 'claim',
  session,
  owner: 'a',
  epoch: 1,
  version,
});

describe('BroadcastQueue', () => {
  it('sends each event at most `limit` times, least-sent and newest first, within the byte budget', () => {
    const q = new BroadcastQueue();
    q.enqueue('s:1', claim('1'), 10);
    q.enqueue('s:2', claim('2'), 10);
    const take = (budget: number) => {
      const out: GossipEventMsg[] = [];
      q.take(budget, 3, out);
      return out.map((e) => (e.kind === 'claim' ? e.session : ''));
    };
    expect(take(10)).toEqual(['2']);
    expect(take(10)).toEqual(['1']);
    q.enqueue('s:3', claim('3'), 10);
    // the fresh one first; among equally-sent ones the order rotates
    const third = take(100);
    expect(third[0]).toBe('3');
    expect(third.slice(1).sort()).toEqual(['1', '2']);
    expect(take(100).sort()).toEqual(['1', '2', '3']);
    expect(q.length).toBe(1);
    expect(take(100)).toEqual(['3']);
    expect(q.length).toBe(0);
    expect(take(100)).toEqual([]);
  });

  it('a newer event under the same key replaces the queued one and restarts its count', () => {
    const q = new BroadcastQueue();
    q.enqueue('s:1', claim('1', 1), 10);
    const out: GossipEventMsg[] = [];
    q.take(100, 2, out);
    q.enqueue('s:1', claim('1', 2), 10);
    expect(q.length).toBe(1);
    out.length = 0;
    q.take(100, 2, out);
    q.take(100, 2, out);
    q.take(100, 2, out);
    expect(out).toEqual([claim('1', 2), claim('1', 2)]);
  });
});
