/**
 * Conference affinity with real SIPp clients: 4 clients on different source ports call conf-7 and 4 call other
 * conferences, concurrently, over UDP and over TCP. Every conf-7 dialog must be on one worker (seen through the
 * control API while the calls are up), conferences spread over both workers, 0 violations, 0 failed calls.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, runSipp, type SippResult } from '@switchyard/testing';
import { startDispatcher, type RunningDispatcher } from './harness.js';

const CALLS_PER_CLIENT = 6;

async function scenario(d: RunningDispatcher, transport: 'u1' | 't1' | 'tn', confPrefix: string) {
  const conf7 = `${confPrefix}-7`;
  const others = ['a', 'b', 'c', 'd'].map((s) => `${confPrefix}-${s}`);
  const clients = [...[1, 2, 3, 4].map(() => conf7), ...others];
  // calls last 4 s so that all clients' dialogs overlap while we look
  const runs: Promise<SippResult>[] = clients.map((service) =>
    runSipp({
      target: d.target,
      service,
      calls: CALLS_PER_CLIENT,
      rate: 3,
      limit: 10,
      callLengthMs: 4000,
      transport,
      timeoutS: 30,
    }),
  );
  // while the calls are up, conf-7's 4 clients meet on one worker: wait (bounded) until the control API shows it,
  // then record who holds every conference. A conference split over two workers would also be an affinity
  // violation, counted by the primary and asserted 0 below.
  const all = Promise.all(runs);
  const seen = await waitFor(
    `${conf7} with 4 participants and the other conferences up`,
    async () => {
      const holders = new Map<string, Set<string>>();
      let conf7Participants = 0;
      for (const w of await d.workers()) {
        for (const c of w.state?.conferences ?? []) {
          if (!holders.has(c.id)) holders.set(c.id, new Set());
          holders.get(c.id)!.add(w.id);
          if (c.id === conf7) conf7Participants = Math.max(conf7Participants, c.participants);
        }
      }
      const othersUp = others.every((o) => holders.has(o));
      return conf7Participants >= 4 && othersUp && { holders, conf7Participants };
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
  const confHolders = seen.holders;
  const conf7Holders = confHolders.get(conf7)!;
  const sawConf7Participants = seen.conf7Participants;
  const results = await all;
  return { results, conf7Holders, confHolders, sawConf7Participants, conf7, others };
}

describe.each([
  ['UDP', 'u1' as const, 'u'],
  ['TCP, one connection per client', 't1' as const, 't'],
  ['TCP, one connection per call', 'tn' as const, 'n'],
])('conference affinity over %s with 2 workers', (_name, transport, prefix) => {
  let d: RunningDispatcher;
  beforeAll(async () => {
    d = await startDispatcher({ minWorkers: 2, maxWorkers: 2 });
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('keeps every dialog of a conference on one worker and spreads conferences', async () => {
    const s = await scenario(d, transport, prefix);
    for (const r of s.results) {
      expect(r.failed, r.diagnostics).toBe(0);
      expect(r.successful, r.diagnostics).toBe(CALLS_PER_CLIENT);
      expect(r.unexpected, r.diagnostics).toBe(0);
    }
    expect([...s.conf7Holders]).toHaveLength(1);
    // the 4 conf-7 clients were in the conference together on that one worker
    expect(s.sawConf7Participants).toBeGreaterThanOrEqual(4);
    for (const [conf, holders] of s.confHolders) expect([...holders], conf).toHaveLength(1);
    const workersUsed = new Set([...s.confHolders.values()].flatMap((h) => [...h]));
    expect(workersUsed.size).toBe(2);
    expect(await d.metric('sipdisp_affinity_violations_total')).toBe(0);
    const workers = await d.workers();
    expect(workers.filter((w) => w.status === 'ready')).toHaveLength(2);
    for (const w of workers) expect(w.state?.violations, w.id).toBe(0);
    if (transport === 't1') expect(await d.metric('sipdisp_tcp_handoffs_total')).toBe(8);
    else if (transport === 'tn')
      expect(await d.metric('sipdisp_tcp_handoffs_total')).toBe(8 * CALLS_PER_CLIENT);
    else {
      // every datagram went through the primary or, kernel steering being on by default, straight to the worker
      // holding its dialog or conference on a connected socket (counted by that worker)
      const steered = workers.reduce((n, w) => n + (w.state?.steering?.local ?? 0), 0);
      expect((await d.metric('sipdisp_forwarded_total')) + steered).toBeGreaterThanOrEqual(
        8 * CALLS_PER_CLIENT * 3,
      );
    }
  }, 90_000);
});
