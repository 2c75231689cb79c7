import { describe, expect, it } from 'vitest';
import type { MemberStatus } from '@switchyard/gossip';
import { HostTable, RouterCore } from '../src/index.js';
import { TABLE_INIT } from './helpers.js';

function core(
  owners: Record<string, { owner: string; ownerStatus: MemberStatus | 'unknown'; epoch?: number }> = {},
) {
  const hosts = new HostTable({ ...TABLE_INIT, mode: 'udp' });
  return new RouterCore({ ownership: { owner: (s) => owners[s] }, hosts }, { self: 'h1', mode: 'udp' });
}

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
});
