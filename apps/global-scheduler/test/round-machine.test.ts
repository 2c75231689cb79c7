import { describe, expect, it } from 'vitest';
import { RoundMachine } from '../src/round/round-machine.js';
import type { ConferenceRequest } from '../src/store/schedule-store.js';

const init = { schedulerId: 'b', intervalMs: 1000, windowMs: 60_000, claimLeaseMs: 5000 };
const conf = (id: string): ConferenceRequest => ({
  id,
  region: 'eu',
  expectedParticipants: 1,
  startAt: 0,
  durationS: 60,
  createdAt: 0,
});

describe('RoundMachine', () => {
  it('walks a round: reclaim, count, snapshot, claim its share, place, report', () => {
    const m = new RoundMachine(init);
    expect(m.handle({ type: 'tick', now: 5_000_300 })).toEqual({ type: 'reclaim', now: 5_000_300 });
    expect(m.handle({ type: 'reclaimed', count: 0 })).toEqual({ type: 'list-members' });
    expect(m.handle({ type: 'members', ids: ['c', 'a'] })).toEqual({
      type: 'take-snapshot',
      round: 5000,
      members: ['a', 'b', 'c'],
      windowEnd: 5_060_300,
      ttlMs: 10_000,
    });
    // round 5000: rotation 5000 mod 3 = 2, so b (index 1) has rank 2; total 8 -> 2,3,3 split: b gets 2
    expect(
      m.handle({ type: 'snapshot', snapshot: { round: 5000, total: 8, members: ['a', 'b', 'c'] } }),
    ).toEqual({
      type: 'claim',
      n: 2,
      windowEnd: 5_060_300,
      leaseUntil: 5_005_300,
    });
    expect(m.handle({ type: 'tick', now: 5_001_000 })).toEqual({ type: 'overrun', round: 5001 });
    expect(m.handle({ type: 'claimed', conferences: [conf('x'), conf('y')] })).toEqual({
      type: 'place',
      conferences: [conf('x'), conf('y')],
    });
    const a = m.handle({
      type: 'placed',
      outcomes: [
        {
          id: 'x',
          ok: true,
          assignment: { serverId: 's', address: 'a', epoch: 1, expiresAt: 1, moves: 0, placedAt: 0 },
        },
        { id: 'y', ok: false, reason: 'no-room', retryAt: 2, attempts: 1 },
      ],
    });
    expect(a).toEqual({
      type: 'report',
      report: {
        schedulerId: 'b',
        round: 5000,
        total: 8,
        n: 3,
        share: 2,
        claimed: 2,
        placed: 1,
        unplaceable: 1,
        at: 5_000_300,
      },
    });
    expect(m.currentPhase).toBe('idle');
  });

  it('ends the round at once when nothing was claimed, and on any failure', () => {
    const m = new RoundMachine(init);
    m.handle({ type: 'tick', now: 0 });
    m.handle({ type: 'reclaimed', count: 0 });
    m.handle({ type: 'members', ids: [] });
    m.handle({ type: 'snapshot', snapshot: { round: 0, total: 0, members: ['b'] } });
    expect(m.handle({ type: 'claimed', conferences: [] })).toMatchObject({
      type: 'report',
      report: { share: 0, claimed: 0 },
    });
    m.handle({ type: 'tick', now: 1000 });
    const err = new Error('redis down');
    expect(m.handle({ type: 'failed', error: err })).toEqual({
      type: 'abort',
      phase: 'reclaiming',
      error: err,
    });
    expect(m.currentPhase).toBe('idle');
    expect(m.handle({ type: 'claimed', conferences: [] })).toEqual({ type: 'none' });
    m.handle({ type: 'tick', now: 2000 });
    expect(m.handle({ type: 'snapshot', snapshot: { round: 2, total: 1, members: ['b'] } })).toMatchObject({
      type: 'abort',
    });
  });

  it('gives a scheduler missing from the snapshot no share', () => {
    const m = new RoundMachine(init);
    m.handle({ type: 'tick', now: 0 });
    m.handle({ type: 'reclaimed', count: 0 });
    m.handle({ type: 'members', ids: ['a'] });
    expect(m.handle({ type: 'snapshot', snapshot: { round: 0, total: 9, members: ['a'] } })).toMatchObject({
      type: 'claim',
      n: 0,
    });
  });
});
