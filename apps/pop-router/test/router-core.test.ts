import { describe, expect, it } from 'vitest';
import { ManualClock } from '@switchyard/core';
import type { MemberStatus } from '@switchyard/gossip';
import { HostTable, ROUTER_CORE_DEFAULTS, RouterCore } from '../src/index.js';
import { TABLE_INIT } from './helpers.js';

type Owners = Record<string, { owner: string; ownerStatus: MemberStatus | 'unknown'; epoch?: number }>;

/** A core without the release linger (released at once), as before it existed. */
function core(owners: Owners = {}) {
  return lingeringCore(owners, new ManualClock(), 0);
}

function lingeringCore(owners: Owners, clock: ManualClock, releaseLingerMs?: number) {
  const hosts = new HostTable({ ...TABLE_INIT, mode: 'udp' });
  return new RouterCore(
    { ownership: { owner: (s) => owners[s] }, hosts, now: () => clock.now() },
    { self: 'h1', mode: 'udp', ...(releaseLingerMs === undefined ? {} : { releaseLingerMs }) },
  );
}

const opened = (conferenceId: string, callId: string) =>
  ({ event: 'sessionOpened', callId, conferenceId, worker: 'w1' }) as const;
const closed = (conferenceId: string, callId: string) =>
  ({ event: 'sessionClosed', callId, conferenceId, worker: 'w1' }) as const;

describe('router core', () => {
  it('a data-plane claim of an unowned or orphaned session becomes a gossip claim', () => {
    const c = core({ dead: { owner: 'h3', ownerStatus: 'dead' } });
    expect(c.onDispatcher({ event: 'claim', session: 'conf-1' })).toEqual([
      { type: 'claim', session: 'conf-1' },
    ]);
    expect(c.onDispatcher({ event: 'claim', session: 'dead' })).toEqual([{ type: 'claim', session: 'dead' }]);
  });

  it('a claim of a session another live host owns is not made: the dispatcher is told the owner', () => {
    const c = core({ 'conf-1': { owner: 'h2', ownerStatus: 'suspect' } });
    expect(c.onDispatcher({ event: 'claim', session: 'conf-1' })).toEqual([
      { type: 'send', msg: { kind: 'delta', owners: [['conf-1', 'h2']] } },
    ]);
    expect(c.counters.claimsRedirected).toBe(1);
  });

  it('a draining host claims nothing new', () => {
    const c = core();
    expect(c.setDraining(true)).toEqual([{ kind: 'delta', draining: true }]);
    expect(c.setDraining(true)).toEqual([]);
    expect(c.onDispatcher({ event: 'claim', session: 'conf-1' })).toEqual([]);
    expect(c.counters.claimsRefusedDraining).toBe(1);
  });

  it('release closes only what this host owns', () => {
    const c = core({
      mine: { owner: 'h1', ownerStatus: 'alive' },
      theirs: { owner: 'h2', ownerStatus: 'alive' },
    });
    expect(c.onDispatcher({ event: 'release', session: 'mine' })).toEqual([
      { type: 'close', session: 'mine' },
    ]);
    expect(c.onDispatcher({ event: 'release', session: 'theirs' })).toEqual([]);
  });

  it("a scheduler's assignment (epoch > 0) outlives its dialogs: the data plane's release keeps it", () => {
    const c = core({
      assigned: { owner: 'h1', ownerStatus: 'alive', epoch: 3 },
      adhoc: { owner: 'h1', ownerStatus: 'alive', epoch: 0 },
    });
    expect(c.onDispatcher({ event: 'release', session: 'assigned' })).toEqual([]);
    expect(c.counters.keptAssigned).toBe(1);
    expect(c.onDispatcher({ event: 'release', session: 'adhoc' })).toEqual([
      { type: 'close', session: 'adhoc' },
    ]);
  });

  it('held after a router restart: unknown sessions are re-claimed, sessions owned elsewhere are reported', () => {
    const c = core({
      mine: { owner: 'h1', ownerStatus: 'alive' },
      theirs: { owner: 'h2', ownerStatus: 'alive' },
    });
    expect(c.onDispatcher({ event: 'held', sessions: ['mine', 'theirs', 'lost'] })).toEqual([
      { type: 'send', msg: { kind: 'delta', owners: [['theirs', 'h2']] } },
      { type: 'claim', session: 'lost' },
    ]);
    expect(c.counters.heldElsewhere).toBe(1);
  });

  it('gossip events become deltas; losing a session with local dialogs is counted', () => {
    const c = core();
    c.onDispatcher({ event: 'sessionOpened', callId: 'a', conferenceId: 'conf-1', worker: 'w1' });
    const entry = (owner: string, version: number) => ({
      session: 'conf-1',
      owner,
      epoch: 0,
      version,
      closed: false,
    });
    expect(
      c.onGossip({ type: 'owner-changed', session: 'conf-1', entry: entry('h1', 1), previous: null }),
    ).toEqual([{ kind: 'delta', owners: [['conf-1', 'h1']] }]);
    expect(
      c.onGossip({
        type: 'owner-changed',
        session: 'conf-1',
        entry: entry('h0', 1),
        previous: entry('h1', 1),
      }),
    ).toEqual([{ kind: 'delta', owners: [['conf-1', 'h0']] }]);
    expect(c.counters.lostWithDialogs).toBe(1);
    expect(c.onGossip({ type: 'sessions-orphaned', host: 'h0', sessions: ['conf-1'] })).toEqual([
      { kind: 'delta', owners: [['conf-1', null]] },
    ]);
    const m = { id: 'h2', addr: '127.0.3.2:7946', inc: 0, status: 'alive' as const };
    expect(c.onGossip({ type: 'member-joined', member: m })).toMatchObject([
      { kind: 'delta', hosts: [{ id: 'h2', alive: true }] },
    ]);
    expect(c.onGossip({ type: 'member-dead', member: { ...m, status: 'dead' } })).toMatchObject([
      { kind: 'delta', hosts: [{ id: 'h2', alive: false }] },
    ]);
  });

  it('snapshot: hosts and keys first, then the open owners of live hosts', () => {
    const c = core();
    const members = [
      { id: 'h1', addr: '127.0.3.1:7946', inc: 0, status: 'alive' as const },
      { id: 'h2', addr: '127.0.3.2:7946', inc: 0, status: 'dead' as const },
    ];
    const e = (session: string, owner: string, closed = false) => ({
      session,
      owner,
      epoch: 0,
      version: 1,
      closed,
    });
    const out = c.snapshot(members, [e('a', 'h1'), e('b', 'h2'), e('c', 'h1', true)]);
    expect(out[0]).toMatchObject({ kind: 'snapshot', self: 'h1', mode: 'udp', draining: false });
    expect(out.slice(1)).toEqual([{ kind: 'delta', owners: [['a', 'h1']] }]);
  });

  describe('release linger', () => {
    const LINGER = ROUTER_CORE_DEFAULTS.releaseLingerMs;

    it('defaults to 32 s (64·T1, Timer B/F)', () => {
      expect(LINGER).toBe(32_000);
    });

    it('the claim survives the last BYE and is released when the linger runs out', () => {
      const clock = new ManualClock();
      const c = lingeringCore({ conf: { owner: 'h1', ownerStatus: 'alive', epoch: 0 } }, clock);
      c.onDispatcher(opened('conf', 'a'));
      // the dispatcher releases as the last dialog ends (release first, then its sessionClosed report)
      expect(c.onDispatcher({ event: 'release', session: 'conf' })).toEqual([]);
      c.onDispatcher(closed('conf', 'a'));
      expect(c.lingeringCount).toBe(1);
      expect(c.counters.lingered).toBe(1);
      clock.advance(LINGER - 1);
      expect(c.tick()).toEqual([]);
      clock.advance(1);
      expect(c.tick()).toEqual([{ type: 'close', session: 'conf' }]);
      expect(c.lingeringCount).toBe(0);
      expect(c.counters.lingerReleased).toBe(1);
      expect(c.tick()).toEqual([]);
    });

    it('a new call within the linger keeps the session; its end starts a fresh linger', () => {
      const clock = new ManualClock();
      const c = lingeringCore({ conf: { owner: 'h1', ownerStatus: 'alive', epoch: 0 } }, clock);
      c.onDispatcher(opened('conf', 'a'));
      c.onDispatcher({ event: 'release', session: 'conf' });
      c.onDispatcher(closed('conf', 'a'));
      clock.advance(LINGER / 2);
      c.onDispatcher(opened('conf', 'b'));
      expect(c.counters.lingerReused).toBe(1);
      clock.advance(LINGER);
      // the second call still runs: nothing is released, however long it lasts
      expect(c.tick()).toEqual([]);
      c.onDispatcher({ event: 'release', session: 'conf' });
      c.onDispatcher(closed('conf', 'b'));
      clock.advance(LINGER - 1);
      expect(c.tick()).toEqual([]);
      clock.advance(1);
      expect(c.tick()).toEqual([{ type: 'close', session: 'conf' }]);
    });

    it('a lingering session not ours any more by the end (taken, closed, assigned) is not closed by us', () => {
      const clock = new ManualClock();
      const owners: Owners = {
        taken: { owner: 'h1', ownerStatus: 'alive', epoch: 0 },
        assigned: { owner: 'h1', ownerStatus: 'alive', epoch: 0 },
      };
      const c = lingeringCore(owners, clock);
      for (const s of ['taken', 'assigned']) c.onDispatcher({ event: 'release', session: s });
      // another host won 'taken' (gossip), a scheduler assigned 'assigned' here (PUT /v1/sessions/:id)
      owners.taken = { owner: 'h2', ownerStatus: 'alive', epoch: 0 };
      owners.assigned = { owner: 'h1', ownerStatus: 'alive', epoch: 2 };
      clock.advance(LINGER);
      expect(c.tick()).toEqual([]);
      expect(c.lingeringCount).toBe(0);
    });

    it("a gossiped change of owner ends the linger at once (the session is someone else's)", () => {
      const clock = new ManualClock();
      const c = lingeringCore({ conf: { owner: 'h1', ownerStatus: 'alive', epoch: 0 } }, clock);
      c.onDispatcher({ event: 'release', session: 'conf' });
      const entry = { session: 'conf', owner: 'h2', epoch: 0, version: 2, closed: false };
      c.onGossip({ type: 'owner-changed', session: 'conf', entry, previous: { ...entry, owner: 'h1' } });
      expect(c.lingeringCount).toBe(0);
    });

    it('a host that starts draining releases its lingering sessions at once, and its later releases too', () => {
      const clock = new ManualClock();
      const c = lingeringCore(
        {
          a: { owner: 'h1', ownerStatus: 'alive', epoch: 0 },
          b: { owner: 'h1', ownerStatus: 'alive', epoch: 0 },
          busy: { owner: 'h1', ownerStatus: 'alive', epoch: 0 },
        },
        clock,
      );
      c.onDispatcher({ event: 'release', session: 'a' });
      c.onDispatcher({ event: 'release', session: 'busy' });
      // 'busy' got a dialog again between its release and the drain (reported before the drain)
      c.onDispatcher(opened('busy', 'x'));
      c.setDraining(true);
      expect(c.releaseLingering()).toEqual([{ type: 'close', session: 'a' }]);
      expect(c.lingeringCount).toBe(0);
      expect(c.onDispatcher({ event: 'release', session: 'b' })).toEqual([{ type: 'close', session: 'b' }]);
    });

    it("a scheduler's assignment is kept by the release as before (the linger does not apply)", () => {
      const clock = new ManualClock();
      const c = lingeringCore({ assigned: { owner: 'h1', ownerStatus: 'alive', epoch: 4 } }, clock);
      expect(c.onDispatcher({ event: 'release', session: 'assigned' })).toEqual([]);
      expect(c.counters.keptAssigned).toBe(1);
      expect(c.lingeringCount).toBe(0);
    });
  });
});
