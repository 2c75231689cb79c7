/**
 * The route agent's pure core: which hosts stay in the VIP's ECMP set, from the hosts' own probes and the gossip
 * views of the pop-routers that answer. (The adapter, with real namespaces and a host killed by `kill -9`, is
 * exercised by the pop-router's namespace test.)
 */
import { describe, expect, it } from 'vitest';
import { nexthopDecision, type HostsView, type ProbeState } from '../src/index.js';

const IDS = ['h1', 'h2', 'h3'];
const view = (self: string, states: Record<string, string>): HostsView => ({
  self,
  hosts: Object.entries(states).map(([id, state]) => ({ id, state })),
});
const probes = (...ps: ProbeState[]) => new Map(ps.map((p) => [p.id, p]));
const allAlive = { h1: 'alive', h2: 'alive', h3: 'alive' };

describe('nexthopDecision', () => {
  it('every host answering and alive: all routed, in configured order', () => {
    const p = probes(
      { id: 'h3', failures: 0, view: view('h3', allAlive) },
      { id: 'h1', failures: 0, view: view('h1', allAlive) },
      { id: 'h2', failures: 0, view: view('h2', allAlive) },
    );
    expect(nexthopDecision(IDS, p)).toEqual(IDS);
  });

  it('a host whose own probe failed fewer times than the threshold stays (one lost probe is noise)', () => {
    const p = probes(
      { id: 'h1', failures: 0, view: view('h1', allAlive) },
      { id: 'h2', failures: 0, view: view('h2', allAlive) },
      { id: 'h3', failures: 2, view: view('h3', allAlive) },
    );
    expect(nexthopDecision(IDS, p, 3)).toEqual(IDS);
  });

  it('a host whose probes failed `failuresToWithdraw` times in a row is withdrawn, even before gossip says so', () => {
    const p = probes(
      { id: 'h1', failures: 0, view: view('h1', allAlive) },
      { id: 'h2', failures: 0, view: view('h2', allAlive) },
      { id: 'h3', failures: 3, view: view('h3', allAlive) },
    );
    expect(nexthopDecision(IDS, p, 3)).toEqual(['h1', 'h2']);
  });

  it('a majority of answering routers marking a host dead or left withdraws it although it still answers', () => {
    const dead = { h1: 'alive', h2: 'alive', h3: 'dead' };
    const p = probes(
      { id: 'h1', failures: 0, view: view('h1', dead) },
      { id: 'h2', failures: 0, view: view('h2', { ...dead, h3: 'left' }) },
      { id: 'h3', failures: 0, view: view('h3', allAlive) },
    );
    expect(nexthopDecision(IDS, p)).toEqual(['h1', 'h2']);
  });

  it('one router of three marking a host dead is not a majority: it stays', () => {
    const p = probes(
      { id: 'h1', failures: 0, view: view('h1', { ...allAlive, h3: 'dead' }) },
      { id: 'h2', failures: 0, view: view('h2', allAlive) },
      { id: 'h3', failures: 0, view: view('h3', allAlive) },
    );
    expect(nexthopDecision(IDS, p)).toEqual(IDS);
  });

  it('suspect is not dead: the host keeps its nexthop while gossip is still unsure', () => {
    const s = { ...allAlive, h2: 'suspect' };
    const p = probes(
      { id: 'h1', failures: 0, view: view('h1', s) },
      { id: 'h2', failures: 0, view: view('h2', allAlive) },
      { id: 'h3', failures: 0, view: view('h3', s) },
    );
    expect(nexthopDecision(IDS, p)).toEqual(IDS);
  });

  it('views of routers that stopped answering do not vote', () => {
    const p = probes(
      // h1's stale view says h2 dead, but h1 itself has not answered since
      { id: 'h1', failures: 5, view: view('h1', { ...allAlive, h2: 'dead' }) },
      { id: 'h2', failures: 0, view: view('h2', allAlive) },
      { id: 'h3', failures: 0, view: view('h3', allAlive) },
    );
    expect(nexthopDecision(IDS, p, 3)).toEqual(['h2', 'h3']);
  });

  it('never empty: when every host would be withdrawn the whole set is kept', () => {
    const p = probes({ id: 'h1', failures: 9 }, { id: 'h2', failures: 9 }, { id: 'h3', failures: 9 });
    expect(nexthopDecision(IDS, p, 3)).toEqual(IDS);
  });

  it('hosts never probed yet count as answering nothing: kept until their probes fail', () => {
    expect(nexthopDecision(IDS, probes({ id: 'h1', failures: 0 }))).toEqual(IDS);
  });
});
