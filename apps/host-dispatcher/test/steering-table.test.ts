/** Kernel steering's pure core in the primary: when a peer is delegated, and every way a delegation ends. */
import { describe, expect, it } from 'vitest';
import {
  ipv4Number,
  isSteerableAddress,
  STEERING_TEST_PROFILE,
  SteeringTable,
  type SteeringView,
} from '../src/index.js';

function setup(over: Partial<{ allowed: boolean; ready: string[]; hosts: Record<string, string> }> = {}) {
  const state = {
    allowed: over.allowed ?? true,
    ready: over.ready ?? ['w1', 'w2'],
    hosts: over.hosts ?? { a: 'w1', b: 'w2' },
  };
  const view: SteeringView = {
    allowed: () => state.allowed,
    steerable: (local) => local !== 7,
    workerReady: (w) => state.ready.includes(w),
    conferenceHost: (c) => state.hosts[c],
  };
  const table = new SteeringTable(view, STEERING_TEST_PROFILE);
  // delegateAfter = 3 in the test profile
  const routed = (worker: string, conf: string | undefined, port = 5080) =>
    table.routed(worker, 0, '127.0.93.2', port, conf);
  return { state, table, routed };
}

describe('SteeringTable', () => {
  it('delegates a peer after delegateAfter datagrams in a row to the worker that holds its conference', () => {
    const t = setup();
    expect(t.routed('w1', 'a')).toBeUndefined();
    expect(t.routed('w1', 'a')).toBeUndefined();
    const a = t.routed('w1', 'a');
    expect(a).toEqual({
      type: 'steer',
      worker: 'w1',
      peer: { local: 0, address: '127.0.93.2', port: 5080 },
      gen: 1,
    });
    expect(t.table.stateOf(0, '127.0.93.2', 5080)).toBe('pending');
    expect(t.table.of('w1')).toBe(1);
    // datagrams reaching the primary meanwhile (before connect) change nothing
    expect(t.routed('w1', 'a')).toBeUndefined();
    t.table.confirmed('w1', a!.peer, 1);
    expect(t.table.stateOf(0, '127.0.93.2', 5080)).toBe('active');
    expect(t.table.counts).toMatchObject({ asked: 1, delegated: 1 });
  });

  it('restarts the count when a datagram of the peer goes to another worker (a proxy carrying many conferences)', () => {
    const t = setup();
    t.routed('w1', 'a');
    t.routed('w1', 'a');
    t.routed('w2', 'b');
    t.routed('w1', 'a');
    expect(t.routed('w1', 'a')).toBeUndefined();
    expect(t.routed('w1', 'a')).toBeDefined();
  });

  it('never delegates a conference the worker does not hold, no conference, a worker not ready, or when not allowed', () => {
    const cases: [Parameters<typeof setup>[0], string | undefined][] = [
      [{ hosts: {} }, 'a'],
      [{}, undefined],
      [{ ready: ['w2'] }, 'a'],
      [{ allowed: false }, 'a'],
    ];
    for (const [over, conf] of cases) {
      const t = setup(over);
      for (let i = 0; i < 10; i++) expect(t.routed('w1', conf)).toBeUndefined();
    }
  });

  it('caps the delegations per worker', () => {
    const t = setup();
    let asked = 0;
    for (let port = 1; port <= 10; port++)
      for (let i = 0; i < 3; i++) asked += t.routed('w1', 'a', port) ? 1 : 0;
    expect(asked).toBe(STEERING_TEST_PROFILE.maxPerWorker);
    expect(t.table.active).toBe(STEERING_TEST_PROFILE.maxPerWorker);
  });

  it('ends a delegation on a bounce, ignores a late report of an older generation, and counts afresh', () => {
    const t = setup();
    const peer = { local: 0, address: '127.0.93.2', port: 5080 };
    for (let i = 0; i < 3; i++) t.routed('w1', 'a');
    t.table.confirmed('w1', peer, 1);
    t.table.ended('w1', peer, 'bounced');
    expect(t.table.stateOf(0, peer.address, peer.port)).toBeUndefined();
    expect(t.table.active).toBe(0);
    for (let i = 0; i < 3; i++) t.routed('w1', 'a');
    expect(t.table.stateOf(0, peer.address, peer.port)).toBe('pending');
    // the first delegation's idle report arrives late: the second one stays
    t.table.ended('w1', peer, 'idle', 1);
    expect(t.table.stateOf(0, peer.address, peer.port)).toBe('pending');
    t.table.ended('w1', peer, 'idle', 2);
    expect(t.table.counts.ended).toMatchObject({ bounced: 1, idle: 1 });
  });

  it("revokes a draining worker's delegations with unsteer actions, and all of them when no longer allowed", () => {
    const t = setup();
    for (let i = 0; i < 3; i++) t.routed('w1', 'a', 1);
    for (let i = 0; i < 3; i++) t.routed('w2', 'b', 2);
    expect(t.table.revokeWorker('w1')).toEqual([
      { type: 'unsteer', worker: 'w1', peer: { local: 0, address: '127.0.93.2', port: 1 }, gen: 1 },
    ]);
    expect(t.table.revalidate()).toEqual([]);
    t.state.allowed = false;
    expect(t.table.revalidate().map((a) => a.worker)).toEqual(['w2']);
    expect(t.table.active).toBe(0);
    expect(t.table.counts.ended.revoked).toBe(2);
  });

  it('forgets a worker that exited without telling it (its sockets died with it)', () => {
    const t = setup();
    for (let i = 0; i < 3; i++) t.routed('w1', 'a');
    t.table.workerGone('w1');
    expect(t.table.active).toBe(0);
    expect(t.table.counts.ended['worker-gone']).toBe(1);
  });

  it('bounds the peers it counts', () => {
    const t = setup();
    for (let port = 1; port <= STEERING_TEST_PROFILE.maxTracked + 5; port++) t.routed('w1', 'a', port);
    expect(t.table.stateOf(0, '127.0.93.2', 1)).toBeUndefined();
    expect(t.table.stateOf(0, '127.0.93.2', STEERING_TEST_PROFILE.maxTracked + 5)).toBe('counting');
  });

  it('keeps every peer apart: IPv4 (low and high addresses), IPv6, past 32 service addresses', () => {
    expect(ipv4Number('127.0.93.2')).toBe(0x7f005d02);
    expect(ipv4Number('255.255.255.255')).toBe(0xffffffff);
    for (const bad of ['::1', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', '1.2.3.4x', '', '1234.1.1.1'])
      expect(ipv4Number(bad)).toBe(-1);
    const t = setup();
    const v6 = (port: number) => t.table.routed('w1', 0, '::1', port, 'a');
    const v4 = (local: number) => t.table.routed('w1', local, '127.0.93.2', 5080, 'a');
    v6(5080);
    v6(5080);
    v4(1);
    v4(1);
    expect(v6(5081)).toBeUndefined();
    expect(v6(5080)?.peer).toEqual({ local: 0, address: '::1', port: 5080 });
    expect(v4(0)).toBeUndefined();
    expect(v4(1)?.peer).toEqual({ local: 1, address: '127.0.93.2', port: 5080 });
    expect(t.table.stateOf(0, '::1', 5080)).toBe('pending');
    expect(t.table.stateOf(1, '127.0.93.2', 5080)).toBe('pending');
    expect(t.table.stateOf(0, '127.0.93.2', 5080)).toBe('counting');
    // addresses past 128.0.0.0 (a negative int32), the same port on another address, and a 33rd service address
    for (const [local, address] of [
      [0, '255.255.255.255'],
      [0, '198.18.0.1'],
      [40, '127.0.93.2'],
    ] as const) {
      for (let i = 0; i < 2; i++) t.table.routed('w2', local, address, 5080, 'b');
      expect(t.table.routed('w2', local, address, 5080, 'b')?.peer).toEqual({ local, address, port: 5080 });
    }
    expect(t.table.stateOf(0, '127.0.93.2', 5080)).toBe('counting');
    expect(t.table.active).toBe(5);
    t.table.workerGone('w2');
    expect(t.table.active).toBe(2);
    expect(t.table.stateOf(0, '198.18.0.1', 5080)).toBeUndefined();
    expect(t.table.stateOf(0, '::1', 5080)).toBe('pending');
  });

  it('delegates nothing on a wildcard service address (local 7 stands for one here)', () => {
    const t = setup();
    for (let i = 0; i < 10; i++) expect(t.table.routed('w1', 7, '127.0.93.2', 5080, 'a')).toBeUndefined();
    expect(t.table.active).toBe(0);
    for (const a of ['0.0.0.0', '::', '::0', '0:0:0:0:0:0:0:0', '::ffff:0.0.0.0', '', undefined])
      expect(isSteerableAddress(a)).toBe(false);
    for (const a of ['127.0.93.1', '::1', 'fe80::1', '10.0.0.0']) expect(isSteerableAddress(a)).toBe(true);
  });
});
