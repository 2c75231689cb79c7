/**
 * Soak: 100 conferences over 2 minutes through all four tiers (placed by the schedulers, claimed by the owner's
 * pop-router, called by SIPp with RTP through every POP host), 0 failed calls, and the resident memory of every
 * process of the stack (each component's process group: a dispatcher with its workers) flat after warm-up.
 * The samples are written to `reports/soak/rss.md` (and printed) for docs/e2e.md.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { placeConference, waitClaimedEverywhere } from '@switchyard/stack';
import { hostsOf, root, sipp, startStack, type E2eStack, type SippResult } from './helpers.js';

/** The soak's shape: 20 rounds, one every 6 s, of 5 conferences × 2 participants (2 minutes, 100 conferences). */
const SOAK = {
  rounds: 20,
  perRound: 5,
  roundMs: 6000,
  participants: 2,
  /** Samples taken in the first 30 s (5 rounds) are warm-up: JIT, pools and caches filling. */
  warmupRounds: 5,
  /**
   * Flat: the last sample of a process group is at most 25% + 24 MB above its RSS at the end of warm-up. The slack
   * is V8's heap growing in steps and the GC's timing, not a leak: a leak of one conference's state per conference
   * over 75 conferences shows as steady growth well past it only if it is large, so the samples are also reported.
   */
  growthFactor: 1.25,
  growthSlackKb: 24 * 1024,
} as const;

/** VmRSS (kB) of every process in process group `pgid` (a component and what it forked), summed. */
function groupRssKb(pgid: number): number {
  let kb = 0;
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      // fields after the command's closing parenthesis: state, ppid, pgrp, …
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (pgrp !== pgid) continue;
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${d}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      // the process ended between the listing and the read
    }
  }
  return kb;
}

describe('soak: 100 conferences over 2 minutes', () => {
  let s: E2eStack;
  beforeAll(async () => {
    s = await startStack({ hosts: 3, mixers: 3 });
  }, 360_000); // components' readiness is bounded at 120 s each (startComposedStack): a loaded machine is slow
  afterAll(async () => {
    await s?.stop();
  }, 30_000);

  it('0 failed calls; every process group flat after warm-up', async () => {
    const hosts = hostsOf(s);
    const pids = s.sup.pids();
    const names = Object.keys(pids).filter((n) => pids[n] !== undefined);
    const samples: { at: number; rss: Record<string, number> }[] = [];
    const sample = (at: number) =>
      samples.push({ at, rss: Object.fromEntries(names.map((n) => [n, groupRssKb(pids[n]!)])) });
    const t0 = Date.now();
    sample(0);
    const results: SippResult[] = [];
    const failures: string[] = [];
    let warm = -1;
    for (let r = 0; r < SOAK.rounds; r++) {
      const roundStart = Date.now();
      const round = Array.from({ length: SOAK.perRound }, async (_, i) => {
        const conf = `soak-${process.pid}-${r}-${i}`;
        try {
          const placed = await placeConference(s.cfg, conf, SOAK.participants);
          // every host has heard the owner's claim: a host that has not would keep the call itself
          await waitClaimedEverywhere(hosts, conf, placed.epoch);
          // round-robin over the POP's hosts: most participants land on a host that does not own the conference
          const entry = hosts[(r * SOAK.perRound + i) % hosts.length]!;
          const res = await sipp({
            target: entry.sip,
            local: entry.address,
            conf,
            calls: SOAK.participants,
            rate: 10,
            pauseMs: 1500,
          });
          results.push(res);
          if (res.failed > 0 || res.successful !== SOAK.participants) failures.push(`${conf}: ${res.output}`);
        } catch (err) {
          failures.push(`${conf}: ${String(err)}`);
        }
      });
      await Promise.all(round);
      if (r + 1 === SOAK.warmupRounds) warm = samples.length;
      sample(Math.round((Date.now() - t0) / 1000));
      const left = SOAK.roundMs - (Date.now() - roundStart);
      if (left > 0) await new Promise((res) => setTimeout(res, left));
    }
    sample(Math.round((Date.now() - t0) / 1000));

    const table = [
      `| process group | ${samples.map((x) => `${x.at} s`).join(' | ')} |`,
      `| --- | ${samples.map(() => '---:').join(' | ')} |`,
      ...names.map((n) => `| ${n} | ${samples.map((x) => (x.rss[n]! / 1024).toFixed(1)).join(' | ')} |`),
    ].join('\n');
    const report = `RSS in MB (VmRSS of each component's process group), warm-up ends at sample ${warm}; load ${fs.readFileSync('/proc/loadavg', 'utf8').trim()}\n\n${table}\n`;
    fs.mkdirSync(path.join(root, 'reports/soak'), { recursive: true });
    fs.writeFileSync(path.join(root, 'reports/soak/rss.md'), report);
    console.info(report);

    const calls = {
      conferences: results.length,
      successful: results.reduce((n, x) => n + x.successful, 0),
      failed: results.reduce((n, x) => n + x.failed, 0),
    };
    expect(failures, failures.join('\n').slice(0, 4000)).toEqual([]);
    expect(calls).toEqual({
      conferences: SOAK.rounds * SOAK.perRound,
      successful: SOAK.rounds * SOAK.perRound * SOAK.participants,
      failed: 0,
    });
    const last = samples[samples.length - 1]!;
    const grown = names.filter(
      (n) => last.rss[n]! > samples[warm]!.rss[n]! * SOAK.growthFactor + SOAK.growthSlackKb,
    );
    expect(grown, `grew after warm-up:\n${report}`).toEqual([]);
  }, 480_000);
});
