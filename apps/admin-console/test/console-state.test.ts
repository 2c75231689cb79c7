/** The pure core: feed events and poll results in, snapshot sections out (no sockets, no timers). */
import { describe, expect, it } from 'vitest';
import type { ServiceRecord } from '@switchyard/registry';
import { ConsoleState } from '../src/state/console-state.js';

const rec = (id: string, over: Partial<ServiceRecord> = {}): ServiceRecord => ({
  id,
  service: 'conference',
  address: '127.0.0.1:1',
  region: 'eu',
  load: 3,
  capacity: 0,
  state: 'serving',
  meta: {},
  revision: 1,
  expiresAt: 10_000,
  ...over,
});

const SCHED = 'http://127.0.14.1:1';

describe('ConsoleState', () => {
  it('keeps each conference placement, its epoch and the moves it saw, and counts rates per sample', () => {
    const s = new ConsoleState([], {}, 'redis://x');
    s.sample(0);
    s.feed('assignments', { type: 'snapshot', service: 'conference', records: [], revision: 0 }, 0);
    s.feed(
      'assignments',
      {
        type: 'added',
        service: 'conference',
        record: rec('c1', { meta: { serverId: 'a', epoch: '5', moves: '0' } }),
        revision: 1,
      },
      100,
    );
    s.feed(
      'assignments',
      {
        type: 'updated',
        service: 'conference',
        record: rec('c1', { meta: { serverId: 'b', epoch: '9', moves: '1' } }),
        revision: 2,
      },
      200,
    );
    // a re-publish with the same epoch is not a move
    s.feed(
      'assignments',
      {
        type: 'updated',
        service: 'conference',
        record: rec('c1', { meta: { serverId: 'b', epoch: '9', moves: '1' } }),
        revision: 3,
      },
      300,
    );
    s.take(300);
    const c = s.snapshot(300).conferences;
    expect(c).toHaveLength(1);
    expect(c[0]).toMatchObject({ id: 'c1', state: 'placed', serverId: 'b', epoch: 9, moves: 1 });
    expect(c[0]!.history).toEqual([
      { from: null, to: 'a', epoch: 5, at: 100 },
      { from: 'a', to: 'b', epoch: 9, at: 200 },
    ]);
    s.sample(1000);
    expect(s.take(1000).sections.rates).toMatchObject({ placementsPerS: 1, movesPerS: 1 });
    s.feed('assignments', { type: 'removed', service: 'conference', record: rec('c1'), revision: 4 }, 1100);
    expect(s.take(1100).deltas?.conferences).toEqual({ from: 1, to: 2, changed: [], removed: ['c1'] });
    expect(s.snapshot(1100).conferences).toEqual([]);
  });

  it('take() returns only the sections that changed, and the sequence grows by one', () => {
    const s = new ConsoleState([{ tier: 'dispatcher', url: 'http://d' }]);
    const first = s.take(0);
    expect(Object.keys(first.sections).sort()).toContain('workers');
    expect(s.changed).toBe(false);
    s.pollOk(
      'dispatcher',
      'http://d',
      {
        workers: [
          {
            id: 'w1',
            pid: 42,
            status: 'ready',
            load: 0,
            state: { dialogs: 1, conferences: [{ id: 'k', participants: 1 }] },
          },
        ],
      },
      10,
      3,
    );
    const next = s.take(10);
    expect(next.seq).toBe(first.seq + 1);
    expect(Object.keys(next.sections).sort()).toEqual(['endpoints', 'workers']);
    expect(next.sections.workers).toEqual([
      { dispatcher: 'http://d', id: 'w1', pid: 42, status: 'ready', load: 0, dialogs: 1, conferences: ['k'] },
    ]);
    // another good poll with the same health: only the data section
    s.pollOk('dispatcher', 'http://d', { workers: [] }, 20, 3);
    expect(Object.keys(s.take(20).sections)).toEqual(['workers']);
  });

  it('a failed poll shows the tier down with the reason and drops its rows (no stale data shown as live)', () => {
    const s = new ConsoleState([{ tier: 'balancer', url: 'http://b' }]);
    s.pollOk('balancer', 'http://b', { services: [{ service: 'mixer', containers: [] }] }, 0, 1);
    expect(s.take(0).sections.queues).toHaveLength(1);
    s.pollFailed('balancer', 'http://b', 'CON_ERR_TIER_DOWN: ECONNREFUSED');
    const t = s.take(1);
    expect(t.sections.queues).toEqual([]);
    expect(t.sections.endpoints).toEqual([
      { tier: 'balancer', url: 'http://b', up: false, lastOkAt: 0, error: 'CON_ERR_TIER_DOWN: ECONNREFUSED' },
    ]);
  });

  it('merges registry servers with the scheduler view: reservations, draining, marked down, expired', () => {
    const s = new ConsoleState([{ tier: 'scheduler', url: SCHED }], {}, 'redis://x');
    s.feed(
      'servers',
      {
        type: 'snapshot',
        service: 'conference-server',
        revision: 1,
        records: [
          rec('a', { service: 'conference-server', load: 10, capacity: 100 }),
          rec('b', { service: 'conference-server', state: 'draining', capacity: 100 }),
        ],
      },
      0,
    );
    const srv = (id: string, over: object = {}) => ({
      id,
      address: 'x',
      region: 'eu',
      state: 'serving',
      load: 0,
      capacity: 100,
      reserved: 7,
      conferences: 2,
      markedDown: false,
      live: true,
      down: false,
      lastSeenAt: 0,
      probe: 'http',
      ...over,
    });
    s.pollOk(
      'scheduler',
      SCHED,
      { schedulers: [], conferences: [], servers: [srv('a'), srv('b'), srv('gone', { live: false })] },
      0,
      1,
    );
    const rows = s.take(0).sections.servers!;
    expect(rows.map((r) => [r.id, r.health, r.load, r.reserved])).toEqual([
      ['a', 'up', 10, 7],
      ['b', 'draining', 3, 7],
      ['gone', 'expired', 0, 7],
    ]);
  });

  it('POP hosts: the newer incarnation wins, and each host is tied to the router that answers for it', () => {
    const s = new ConsoleState([
      { tier: 'pop-router', url: 'http://p1' },
      { tier: 'pop-router', url: 'http://p2' },
    ]);
    const host = (id: string, incarnation: number, state: 'alive' | 'suspect') => ({
      id,
      address: 'a',
      tunnel: 't',
      state,
      incarnation,
      draining: false,
      sessions: 0,
    });
    s.pollOk(
      'pop-router',
      'http://p1',
      {
        self: 'h1',
        hosts: [host('h1', 1, 'alive'), host('h2', 1, 'suspect')],
        sessions: [{ id: 's1', owner: 'h1', epoch: 1, version: 1 }],
      },
      0,
      1,
    );
    s.pollOk(
      'pop-router',
      'http://p2',
      { self: 'h2', hosts: [host('h1', 1, 'alive'), host('h2', 2, 'alive')], sessions: [] },
      0,
      1,
    );
    const t = s.take(0).sections;
    expect(s.snapshot(0).hosts.map((h) => [h.id, h.state, h.router])).toEqual([
      ['h1', 'alive', 'http://p1'],
      ['h2', 'alive', 'http://p2'],
    ]);
    expect(t.sessions).toMatchObject({ total: 1 });
    expect(s.sessionPage(null, 0, 10).rows).toEqual([{ id: 's1', owner: 'h1', epoch: 1, version: 1 }]);
  });

  it('sessions: the stream carries a count and a version; rows are read a sorted page at a time, per owner', () => {
    const s = new ConsoleState([
      { tier: 'pop-router', url: 'http://p1' },
      { tier: 'pop-router', url: 'http://p2' },
    ]);
    const sess = (id: string, owner: string, version = 1) => ({ id, owner, epoch: 1, version });
    const data = (self: string, sessions: ReturnType<typeof sess>[]) => ({ self, hosts: [], sessions });
    s.pollOk(
      'pop-router',
      'http://p1',
      data('h1', [sess('c', 'h1'), sess('a', 'h1'), sess('e', 'h1')]),
      0,
      1,
    );
    s.pollOk('pop-router', 'http://p2', data('h2', [sess('d', 'h2'), sess('b', 'h2')]), 0, 1);
    const v0 = s.take(0).sections.sessions!;
    expect(v0.total).toBe(5);
    // sorted by id across routers, windowed
    expect(s.sessionPage(null, 1, 3).rows.map((r) => r.id)).toEqual(['b', 'c', 'd']);
    expect(s.sessionPage(null, 1, 3)).toMatchObject({
      total: 5,
      offset: 1,
      owner: null,
      version: v0.version,
    });
    expect(s.sessionPage('h2', 0, 10).rows.map((r) => r.id)).toEqual(['b', 'd']);
    expect(s.sessionPage('nobody', 0, 10)).toMatchObject({ total: 0, rows: [] });
    // the same answer again: nothing changes, nothing is pushed
    s.pollOk('pop-router', 'http://p2', data('h2', [sess('d', 'h2'), sess('b', 'h2')]), 1, 1);
    expect(s.changed).toBe(false);
    // one session's version changes: a new sessions version, and the page shows the new row
    s.pollOk('pop-router', 'http://p2', data('h2', [sess('d', 'h2', 2), sess('b', 'h2')]), 2, 1);
    const v1 = s.take(2).sections.sessions!;
    expect(v1).toMatchObject({ total: 5, version: v0.version + 1 });
    expect(v1.head.map((r) => r.id)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(s.sessionPage('h2', 1, 1).rows).toEqual([sess('d', 'h2', 2)]);
    // a router that stops answering: its sessions leave the index (nothing stale is shown)
    s.pollFailed('pop-router', 'http://p1', 'timeout');
    expect(s.take(3).sections.sessions!).toMatchObject({ total: 2, version: v0.version + 2 });
    expect(s.sessionPage(null, 0, 10).rows.map((r) => r.id)).toEqual(['b', 'd']);
  });

  it('load series: one sample per server per tick, bounded, a vanished server drops out once absent for the window', () => {
    const s = new ConsoleState([], { samples: 3 }, 'redis://x');
    s.feed(
      'servers',
      { type: 'snapshot', service: 'conference-server', revision: 1, records: [rec('a', { load: 1 })] },
      0,
    );
    s.sample(0);
    s.feed(
      'servers',
      { type: 'added', service: 'conference-server', revision: 2, record: rec('b', { load: 5 }) },
      1,
    );
    s.sample(1000);
    s.feed('servers', { type: 'expired', service: 'conference-server', revision: 3, record: rec('a') }, 2);
    s.sample(2000);
    let series = s.take(2000).sections.series!;
    expect(series.t).toEqual([0, 1000, 2000]);
    expect(series.servers).toEqual([
      { id: 'a', load: [1, 1, null] },
      { id: 'b', load: [null, 5, 5] },
    ]);
    s.sample(3000);
    s.sample(4000);
    series = s.take(4000).sections.series!;
    expect(series.t).toEqual([2000, 3000, 4000]);
    expect(series.servers).toEqual([{ id: 'b', load: [5, 5, 5] }]);
  });

  it('the audit log is bounded and numbered', () => {
    const s = new ConsoleState([], { auditSize: 2 });
    for (let i = 0; i < 3; i++)
      s.addAudit({
        at: i,
        role: 'operator',
        action: 'server.drain',
        target: `s${i}`,
        ok: true,
        status: 200,
        detail: '',
      });
    expect(s.take(3).sections.audit!.map((a) => [a.seq, a.target])).toEqual([
      [2, 's1'],
      [3, 's2'],
    ]);
  });
});
