/** One suite, run against every ScheduleStore implementation. */
import { describe, expect, it } from 'vitest';
import type { Candidate, ConferenceRequest, ScheduleStore } from '../src/store/schedule-store.js';

const T0 = 1_700_000_000_000;

export function req(id: string, over: Partial<ConferenceRequest> = {}): ConferenceRequest {
  return { id, region: 'eu', expectedParticipants: 2, startAt: T0, durationS: 600, createdAt: T0, ...over };
}

export function cand(id: string, capacity: number, over: Partial<Candidate> = {}): Candidate {
  return { id, address: `127.0.0.1:${id.length}`, capacity, load: 0, tier: 0, ...over };
}

export interface ComplianceOptions {
  /**
   * Every placement of the suite lands on another shard than its conference (a region-partitioned store whose
   * servers are in another partition): an operator's move of such a placement is refused (one script cannot move a
   * reservation between shards), so the move test checks that refusal instead.
   */
  placementsOnOtherShard?: boolean;
}

export function scheduleStoreCompliance(
  name: string,
  make: () => Promise<ScheduleStore>,
  options: ComplianceOptions = {},
): void {
  describe(`ScheduleStore compliance: ${name}`, () => {
    it('creates, rejects duplicates, gets and lists with paging', async () => {
      const s = await make();
      for (let i = 0; i < 5; i++) await s.create(req(`c${i}`));
      await expect(s.create(req('c1'))).rejects.toMatchObject({ code: 'SCH_ERR_DUPLICATE' });
      expect((await s.get('c3'))?.state).toBe('pending');
      expect(await s.get('nope')).toBeUndefined();
      const p1 = await s.list(undefined, 2);
      expect(p1.items.map((c) => c.id)).toEqual(['c0', 'c1']);
      const p2 = await s.list(p1.next, 2);
      expect(p2.items.map((c) => c.id)).toEqual(['c2', 'c3']);
      const p3 = await s.list(p2.next, 2);
      expect(p3.items.map((c) => c.id)).toEqual(['c4']);
      expect(p3.next).toBeUndefined();
    });

    it('fixes a round snapshot for everyone and claims only due conferences, earliest first', async () => {
      const s = await make();
      await s.create(req('late', { startAt: T0 + 60_000 }));
      await s.create(req('b', { startAt: T0 + 10 }));
      await s.create(req('a', { startAt: T0 }));
      const snap = await s.snapshot(7, ['s1', 's2'], T0 + 1000, 10_000);
      expect(snap).toEqual({ round: 7, total: 2, members: ['s1', 's2'] });
      await s.create(req('c', { startAt: T0 }));
      expect(await s.snapshot(7, ['s3'], T0 + 1000, 10_000)).toEqual(snap);
      const got = await s.claim('s1', 2, T0 + 1000, T0 + 5000);
      expect(got.map((r) => r.id)).toEqual(['a', 'c']);
      expect((await s.get('a'))?.state).toBe('claimed');
      expect((await s.get('a'))?.claimedBy).toBe('s1');
      expect((await s.claim('s2', 5, T0 + 1000, T0 + 5000)).map((r) => r.id)).toEqual(['b']);
      expect(await s.claim('s2', 5, T0 + 1000, T0 + 5000)).toEqual([]);
      expect(await s.counts()).toEqual({ pending: 1, claimed: 3, placed: 0, unplaceable: 0 });
    });

    it('returns expired claims to pending, and a lost claim cannot be placed', async () => {
      const s = await make();
      await s.create(req('a'));
      await s.claim('s1', 1, T0, T0 + 100);
      expect(await s.reclaimExpired(T0 + 99)).toBe(0);
      expect(await s.reclaimExpired(T0 + 100)).toBe(1);
      expect((await s.get('a'))?.state).toBe('pending');
      const [r] = await s.claim('s2', 1, T0, T0 + 5000);
      const lost = await s.place('s1', [r!], [cand('x', 10)]);
      expect(lost).toEqual([{ id: 'a', ok: false, reason: 'claim-lost' }]);
      const won = await s.place('s2', [r!], [cand('x', 10)], { now: T0 + 7 });
      expect(won[0]).toMatchObject({
        ok: true,
        assignment: { serverId: 'x', epoch: 1, expiresAt: T0 + 600_000, moves: 0, placedAt: T0 + 7 },
      });
      expect(await s.place('s2', [r!], [cand('x', 10)])).toEqual([
        { id: 'a', ok: false, reason: 'claim-lost' },
      ]);
    });

    it('places least loaded first, own region before fallback, never past capacity', async () => {
      const s = await make();
      const reqs = Array.from({ length: 7 }, (_, i) => req(`c${i}`, { expectedParticipants: 3 }));
      for (const r of reqs) await s.create(r);
      const claimed = await s.claim('s1', 7, T0, T0 + 5000);
      const cands = [cand('a', 6), cand('b', 7, { load: 1 }), cand('fb', 100, { tier: 1 })];
      const out = await s.place('s1', claimed, cands);
      expect(out.map((o) => (o.ok ? o.assignment.serverId : o.reason))).toEqual([
        'a',
        'b',
        'b',
        'a',
        'fb',
        'fb',
        'fb',
      ]);
      expect(out.map((o) => (o.ok ? o.assignment.epoch : 0))).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(await s.reservations()).toEqual([
        { serverId: 'a', reserved: 6, conferences: 2 },
        { serverId: 'b', reserved: 6, conferences: 2 },
        { serverId: 'fb', reserved: 9, conferences: 3 },
      ]);
    });

    it('the stored placement reads back exactly, whatever characters the server id and address hold', async () => {
      const s = await make();
      await s.create(req('q', { expectedParticipants: 3, startAt: T0 + 5, durationS: 61 }));
      const [r] = await s.claim('s1', 1, T0 + 10, T0 + 5000);
      const odd = cand('srv "1"\\/é\u0001', 10, { address: '[::1]:5060;x="y"\\z' });
      const out = await s.place('s1', [r!], [odd], { now: T0 + 11 });
      expect(out[0]).toMatchObject({ ok: true });
      const got = await s.get('q');
      expect(got?.assignment).toEqual({
        serverId: odd.id,
        address: odd.address,
        epoch: 1,
        expiresAt: T0 + 5 + 61_000,
        moves: 0,
        placedAt: T0 + 11,
      });
      expect(await s.conferencesOn(odd.id)).toEqual(['q']);
    });

    it('places a batch whose ids hold spaces and newlines like any other (PLACE then takes them unpacked)', async () => {
      const s = await make();
      // claimed earliest first: the ordinary ids, then the odd ones
      const plain = [req('p1', { durationS: 7 }), req('p2', { startAt: T0 + 1, expectedParticipants: 5 })];
      const odd = [
        req('o 1', { startAt: T0 + 2, durationS: 9 }),
        req('o\n2', { startAt: T0 + 3, expectedParticipants: 4 }),
      ];
      for (const r of [...plain, ...odd]) await s.create(r);
      const servers = [cand('a', 8), cand('b', 8)];
      // the same batch shape twice: ordinary ids (packed into one argument) and odd ones (one argument each)
      const placeAll = async (batch: ConferenceRequest[]) => {
        const claimed = await s.claim('s1', 2, T0 + 10, T0 + 5000);
        expect(claimed.map((c) => c.id).sort()).toEqual(batch.map((c) => c.id).sort());
        return s.place('s1', batch, servers, { now: T0 + 20 });
      };
      const a = await placeAll(plain);
      const b = await placeAll(odd);
      expect(a.map((o) => (o.ok ? [o.assignment.serverId, o.assignment.epoch] : o.reason))).toEqual([
        ['a', 1],
        ['b', 2],
      ]);
      expect(b.map((o) => (o.ok ? [o.assignment.serverId, o.assignment.epoch] : o.reason))).toEqual([
        ['a', 3],
        ['a', 4],
      ]);
      for (const r of [...plain, ...odd])
        expect((await s.get(r.id))?.assignment).toMatchObject({
          expiresAt: r.startAt + r.durationS * 1000,
          placedAt: T0 + 20,
          moves: 0,
        });
      expect(await s.reservations()).toEqual([
        { serverId: 'a', reserved: 8, conferences: 3 },
        { serverId: 'b', reserved: 5, conferences: 1 },
      ]);
      expect((await s.conferencesOn('a')).sort()).toEqual(['o\n2', 'o 1', 'p1']);
    });

    it('a batch larger than one variadic command: each conference placed once, consecutive epochs, counts right', async () => {
      const s = await make();
      const n = 1100; // over the scripts' 500-item pieces, so every bulk command is cut at least twice
      for (let i = 0; i < n; i++) await s.create(req(`b${i}`, { expectedParticipants: 1 }));
      const claimed = await s.claim('s1', n, T0 + 10, T0 + 5000);
      expect(claimed).toHaveLength(n);
      const servers = [cand('a', 600), cand('b', 600)];
      const out = await s.place('s1', claimed, servers, { now: T0 });
      expect(out.filter((o) => o.ok)).toHaveLength(n);
      const epochs = out.flatMap((o) => (o.ok ? [o.assignment.epoch] : []));
      expect(new Set(epochs).size).toBe(n);
      expect(Math.max(...epochs) - Math.min(...epochs)).toBe(n - 1);
      const res = await s.reservations();
      expect(res.reduce((a, r) => a + r.reserved, 0)).toBe(n);
      expect(res.reduce((a, r) => a + r.conferences, 0)).toBe(n);
      for (const r of res) expect(r.reserved).toBeLessThanOrEqual(600);
      const on = [...(await s.conferencesOn('a')), ...(await s.conferencesOn('b'))];
      expect(new Set(on).size).toBe(n);
      expect(await s.counts()).toEqual({ pending: 0, claimed: 0, placed: n, unplaceable: 0 });
      // a later batch continues the same counter
      await s.create(req('after', { expectedParticipants: 1 }));
      const later = await s.place('s1', await s.claim('s1', 1, T0 + 10, T0 + 5000), servers, { now: T0 });
      expect(later[0]).toMatchObject({ ok: true, assignment: { epoch: Math.max(...epochs) + 1 } });
    });

    it('an unplaceable conference leaves pending for a back-off, with its reason; it does not crowd out others', async () => {
      const s = await make();
      await s.create(req('big', { expectedParticipants: 50 }));
      await s.create(req('small', { expectedParticipants: 3, startAt: T0 + 1 }));
      const opts = { now: T0, backoffMs: 100, backoffMaxMs: 250 };
      const first = await s.place('s1', await s.claim('s1', 1, T0 + 10, T0 + 5000), [cand('a', 10)], opts);
      expect(first).toEqual([{ id: 'big', ok: false, reason: 'too-large', retryAt: T0 + 100, attempts: 1 }]);
      expect(await s.get('big')).toMatchObject({
        state: 'unplaceable',
        unplaceable: { reason: 'too-large', attempts: 1, retryAt: T0 + 100 },
      });
      // the next claim (same round, another scheduler) gets the placeable one, not big again
      const next = await s.claim('s2', 1, T0 + 10, T0 + 5000);
      expect(next.map((r) => r.id)).toEqual(['small']);
      expect((await s.place('s2', next, [cand('a', 10)], opts))[0]).toMatchObject({ ok: true });
      expect(await s.reclaimExpired(T0 + 99)).toBe(0);
      expect(await s.claim('s1', 5, T0 + 10, T0 + 5000)).toEqual([]);
      // back-off over: tried again, doubling (capped), still too large; with no servers at all the reason says so
      expect(await s.reclaimExpired(T0 + 100)).toBe(1);
      const again = await s.claim('s1', 5, T0 + 10, T0 + 5000);
      expect(await s.place('s1', again, [], { ...opts, now: T0 + 100 })).toEqual([
        { id: 'big', ok: false, reason: 'no-servers', retryAt: T0 + 300, attempts: 2 },
      ]);
      expect(await s.unplaceableByReason()).toEqual({ 'no-servers': 1, 'too-large': 0, 'no-room': 0 });
      expect((await s.listUnplaceable(10)).map((c) => c.id)).toEqual(['big']);
      expect(await s.counts()).toMatchObject({ pending: 0, unplaceable: 1, placed: 1 });
      // a conference ending frees room: 'room' wakes all but the too-large; new capacity wakes everything
      await s.wake('capacity');
      expect(await s.reclaimExpired(T0 + 101)).toBe(1);
      const woken = await s.claim('s1', 5, T0 + 10, T0 + 5000);
      const ok = await s.place('s1', woken, [cand('a', 10), cand('z', 60)], { ...opts, now: T0 + 101 });
      expect(ok[0]).toMatchObject({ ok: true, assignment: { serverId: 'z' } });
      expect((await s.get('big'))?.unplaceable).toBeUndefined();
      expect((await s.counts()).unplaceable).toBe(0);
      expect(await s.unplaceableByReason()).toEqual({ 'no-servers': 0, 'too-large': 0, 'no-room': 0 });
    });

    it('ending a placed conference wakes the no-room ones at the next reclaim, not the too-large', async () => {
      const s = await make();
      await s.create(req('p', { expectedParticipants: 8 }));
      await s.place('s1', await s.claim('s1', 1, T0, T0 + 5000), [cand('a', 10)]);
      await s.create(req('q', { expectedParticipants: 5 }));
      await s.create(req('huge', { expectedParticipants: 11 }));
      const opts = { now: T0, backoffMs: 10_000, backoffMaxMs: 10_000 };
      const out = await s.place('s1', await s.claim('s1', 2, T0, T0 + 5000), [cand('a', 10)], opts);
      expect(out.map((o) => (o.ok ? 'ok' : o.reason)).sort()).toEqual(['no-room', 'too-large']);
      expect(await s.reclaimExpired(T0 + 1)).toBe(0);
      expect(await s.end('p')).toBe(true);
      expect(await s.reclaimExpired(T0 + 2)).toBe(1);
      expect((await s.claim('s1', 5, T0, T0 + 5000)).map((r) => r.id)).toEqual(['q']);
      expect(await s.reclaimExpired(T0 + 3)).toBe(0); // the wake was used up
    });

    it('evacuates a down server: its conferences go back to pending, are re-placed elsewhere with a new epoch', async () => {
      const s = await make();
      for (let i = 0; i < 4; i++) await s.create(req(`c${i}`));
      const placed = await s.place('s1', await s.claim('s1', 4, T0, T0 + 5000), [cand('a', 4), cand('b', 4)]);
      const onA = placed.filter((p) => p.ok && p.assignment.serverId === 'a').map((p) => p.id);
      expect(await s.conferencesOn('a')).toEqual(onA.sort());
      const moved = await s.evacuate('a');
      expect(moved.sort()).toEqual(onA);
      expect(await s.downServers()).toEqual(['a']);
      expect(await s.conferencesOn('a')).toEqual([]);
      const again = await s.claim('s2', 10, T0, T0 + 5000);
      expect(again.map((r) => r.id).sort()).toEqual(onA);
      const re = await s.place('s2', again, [cand('a', 100), cand('b', 100)]);
      for (const r of re) expect(r).toMatchObject({ ok: true, assignment: { serverId: 'b', moves: 1 } });
      for (const r of re) if (r.ok) expect(r.assignment.epoch).toBeGreaterThan(4);
      expect(await s.restore('a')).toBe(true);
      expect(await s.downServers()).toEqual([]);
    });

    it('moves a placed conference: new epoch, moves + 1, history entry, reservation moved; refuses what it cannot', async () => {
      const s = await make();
      await s.create(req('m', { expectedParticipants: 3 }));
      await s.create(req('fill', { expectedParticipants: 4 }));
      await s.create(req('wait'));
      expect(await s.move('nope', [cand('b', 10)], T0)).toEqual({ ok: false, reason: 'not-found' });
      expect(await s.move('wait', [cand('b', 10)], T0)).toEqual({ ok: false, reason: 'not-placed' });
      const placed = await s.place('s1', await s.claim('s1', 2, T0, T0 + 5000), [cand('a', 10)], {
        now: T0,
      });
      const pm = placed.find((p) => p.id === 'm');
      const pf = placed.find((p) => p.id === 'fill');
      expect(pm).toMatchObject({ id: 'm', ok: true, assignment: { serverId: 'a', moves: 0 } });
      const epoch0 = pm!.ok ? pm!.assignment.epoch : 0;
      // its own server is no target; a server without room (b: 5 − 4 < 3) neither; one marked down neither
      const b = cand('b', 5);
      await s.evacuate('down-c', T0);
      expect(await s.move('m', [cand('a', 10)], T0 + 1)).toEqual({ ok: false, reason: 'no-capacity' });
      expect(await s.move('m', [cand('down-c', 100)], T0 + 1)).toEqual({ ok: false, reason: 'no-capacity' });
      expect(pf).toMatchObject({ ok: true });
      if (options.placementsOnOtherShard) {
        const before = await s.reservations();
        expect(await s.move('fill', [b], T0 + 1)).toEqual({ ok: false, reason: 'no-capacity' });
        expect(await s.reservations()).toEqual(before);
        expect((await s.get('fill'))?.assignment?.serverId).toBe('a');
        return;
      }
      expect(await s.move('fill', [b], T0 + 1)).toMatchObject({ ok: true, from: 'a' });
      expect(await s.move('m', [b], T0 + 2)).toEqual({ ok: false, reason: 'no-capacity' });
      // the best of several: lowest tier, then least loaded
      const moved = await s.move(
        'm',
        [b, cand('c', 10, { tier: 1 }), cand('d', 10), cand('e', 10, { load: 5 })],
        T0 + 3,
      );
      expect(moved).toMatchObject({
        ok: true,
        from: 'a',
        assignment: { serverId: 'd', moves: 1, placedAt: T0 + 3 },
      });
      if (!moved.ok) throw new Error('unreachable');
      expect(moved.assignment.epoch).toBeGreaterThan(epoch0);
      expect(moved.assignment.expiresAt).toBe(T0 + 600_000);
      const got = await s.get('m');
      expect(got).toMatchObject({ state: 'placed', assignment: moved.assignment });
      expect(got?.history).toEqual([
        { from: 'a', to: 'd', epoch: moved.assignment.epoch, at: T0 + 3, reason: 'operator' },
      ]);
      expect(await s.conferencesOn('a')).toEqual([]);
      expect(await s.conferencesOn('d')).toEqual(['m']);
      expect(await s.reservations()).toEqual([
        { serverId: 'b', reserved: 4, conferences: 1 },
        { serverId: 'd', reserved: 3, conferences: 1 },
      ]);
      // a down-move is recorded too; ending the conference forgets its history
      await s.evacuate('d', T0 + 9);
      expect((await s.get('m'))?.history?.map((e) => e.reason)).toEqual(['operator', 'server-down']);
      expect((await s.get('m'))?.history?.[1]).toEqual({ from: 'd', at: T0 + 9, reason: 'server-down' });
      expect(await s.end('m')).toBe(true);
      await s.create(req('m'));
      expect((await s.get('m'))?.history).toBeUndefined();
    });

    it('ends conferences (freeing capacity) and sweeps expired schedule entries', async () => {
      const s = await make();
      await s.create(req('x', { durationS: 10 }));
      await s.create(req('y', { durationS: 100 }));
      await s.create(req('p'));
      await s.place('s1', await s.claim('s1', 2, T0, T0 + 5000), [cand('a', 10)]);
      expect(await s.sweepExpired(T0 + 10_000, 100)).toEqual(['x']);
      expect(await s.get('x')).toBeUndefined();
      expect(await s.reservations()).toEqual([{ serverId: 'a', reserved: 2, conferences: 1 }]);
      expect(await s.end('y')).toBe(true);
      expect(await s.end('p')).toBe(true);
      expect(await s.end('y')).toBe(false);
      expect(await s.counts()).toEqual({ pending: 0, claimed: 0, placed: 0, unplaceable: 0 });
      expect((await s.reservations()).every((r) => r.reserved === 0)).toBe(true);
    });

    it('records the last share of each scheduler', async () => {
      const s = await make();
      const r = {
        schedulerId: 's1',
        round: 3,
        total: 10,
        n: 3,
        share: 4,
        claimed: 4,
        placed: 4,
        unplaceable: 0,
        at: T0,
      };
      await s.recordShare(r, 60_000);
      await s.recordShare({ ...r, round: 4, share: 3 }, 60_000);
      expect(await s.shares(['s1', 's2'])).toEqual([{ ...r, round: 4, share: 3 }]);
      expect(await s.shares([])).toEqual([]);
    });
  });
}
