/**
 * Keyed sections (POP hosts, conferences) go to the pages as bounded deltas after one snapshot: a page that
 * applies them in order has exactly what a page that connects later gets whole.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConsoleState } from '../src/state/console-state.js';
import { applyDelta } from '../src/shared/delta.js';
import type { PopHostRow, Snapshot } from '../src/shared/model.js';

const URL = 'http://127.0.14.9:1';

const host = (id: string, incarnation: number, sessions: number) => ({
  id,
  address: `198.18.0.${id.length}`,
  tunnel: 't',
  state: 'alive' as const,
  incarnation,
  draining: false,
  sessions,
});

/** What a page does with a patch's deltas (web/live.ts), checking that each follows the version it holds. */
function apply(page: Snapshot, patch: ReturnType<ConsoleState['take']>): Snapshot {
  const d = patch.deltas;
  if (!d?.hosts) return page;
  expect(d.hosts.from).toBe(page.versions.hosts);
  return {
    ...page,
    hosts: applyDelta(page.hosts, d.hosts),
    versions: { ...page.versions, hosts: d.hosts.to },
  };
}

describe('keyed sections as deltas', () => {
  it('a page applying the deltas has what a fresh snapshot holds; no delta exceeds the bound', () => {
    fc.assert(
      fc.property(
        // each step: the hosts the router lists now (id → incarnation, sessions)
        fc.array(fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'), fc.nat(3)), {
          minLength: 1,
          maxLength: 12,
        }),
        fc.nat(11),
        (steps, joinAt) => {
          const s = new ConsoleState([{ tier: 'pop-router', url: URL }], { deltaRows: 2 });
          let early: Snapshot | undefined; // connected before the first change
          let late: Snapshot | undefined; // connected part-way
          early = s.snapshot(0);
          steps.forEach((hosts, i) => {
            s.pollOk(
              'pop-router',
              URL,
              {
                self: 'a',
                hosts: Object.entries(hosts).map(([id, n]) => host(id, n, n * 10)),
                sessions: [],
              },
              i,
              1,
            );
            // drain: as many takes as the bound needs (the app pushes again while the state says it changed)
            for (let guard = 0; s.changed && guard < 20; guard++) {
              const p = s.take(i);
              const n = (p.deltas?.hosts?.changed.length ?? 0) + (p.deltas?.hosts?.removed.length ?? 0);
              expect(n).toBeLessThanOrEqual(2);
              early = apply(early!, p);
              if (late) late = apply(late, p);
            }
            if (i === joinAt) late = s.snapshot(i);
          });
          expect(s.changed).toBe(false);
          const fresh = s.snapshot(99);
          const last = steps[steps.length - 1]!;
          expect(fresh.hosts.map((h: PopHostRow) => h.id)).toEqual(Object.keys(last).sort());
          expect(early!.hosts).toEqual(fresh.hosts);
          expect(early!.versions).toEqual(fresh.versions);
          if (late) expect(late.hosts).toEqual(fresh.hosts);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('a poll that changes one host of 1,000 sends that host only', () => {
    const s = new ConsoleState([{ tier: 'pop-router', url: URL }]);
    const hosts = Array.from({ length: 1000 }, (_, i) => host(`h${String(i).padStart(4, '0')}`, 1, 5));
    s.pollOk('pop-router', URL, { self: 'h0000', hosts, sessions: [] }, 0, 1);
    const first = s.take(0).deltas!.hosts!;
    // the first take after start fills the section in bounded steps (500 rows per event)
    expect(first.changed).toHaveLength(500);
    expect(s.changed).toBe(true);
    expect(s.take(0).deltas!.hosts!.changed).toHaveLength(500);
    expect(s.changed).toBe(false);
    const next = hosts.map((h, i) => (i === 7 ? { ...h, sessions: 6 } : h));
    s.pollOk('pop-router', URL, { self: 'h0000', hosts: next, sessions: [] }, 1, 1);
    const p = s.take(1);
    expect(p.deltas!.hosts).toMatchObject({ from: 2, to: 3, removed: [] });
    expect(p.deltas!.hosts!.changed).toEqual([{ ...next[7], router: null }]);
    expect(p.sections).toEqual({});
    expect(JSON.stringify(p).length).toBeLessThan(400);
  });
});
