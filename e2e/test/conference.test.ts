/**
 * One conference through all four tiers, for real: schedulers (tier 1) place it on a POP host, whose agent has the
 * host's pop-router (tier 2) claim it with the assignment's epoch; SIPp participants sent to every host of the POP
 * reach the owner's dispatcher (tier 3), whose worker allocates a mixer through the container balancer (tier 4) and
 * answers with the mixer's RTP address; SIPp's RTP reaches the mixer, which relays it between the participants.
 * Then failures, each with its loss counted against the bound documented in docs/e2e.md.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  mixerTotals,
  mixerUrls,
  placeConference,
  waitClaimed,
  waitClaimedEverywhere,
} from '@switchyard/stack';
import { waitFor } from '@switchyard/testing';
import { hostsOf, logTail, sipp, startStack, type E2eStack, type SippResult } from './helpers.js';

interface MixerStats {
  id: string;
  received: number;
  relayed: number;
  detail: { conference: string; port: number; participants: number; received: number; relayed: number }[];
}

async function mixerStats(s: E2eStack): Promise<MixerStats[]> {
  return Promise.all(
    mixerUrls(s.cfg).map(
      async (u) =>
        (await fetch(`${u}/v1/stats`, { signal: AbortSignal.timeout(3000) })
          .then((r) => r.json())
          .catch(() => ({ id: u, received: 0, relayed: 0, detail: [] }))) as MixerStats,
    ),
  );
}

async function popForwarded(control: string): Promise<number> {
  const text = await (await fetch(`${control}/metrics`)).text();
  const m = /sipdisp_pop_events\{event="forwarded"\} (\d+)/.exec(text);
  return m ? Number(m[1]) : 0;
}

const total = (rs: SippResult[]) => ({
  successful: rs.reduce((n, r) => n + r.successful, 0),
  failed: rs.reduce((n, r) => n + r.failed, 0),
});

describe('one conference through all four tiers', () => {
  let s: E2eStack;
  beforeAll(async () => {
    s = await startStack({ hosts: 3, mixers: 3 });
  }, 360_000); // components' readiness is bounded at 120 s each (startComposedStack): a loaded machine is slow
  afterAll(async () => {
    await s?.stop();
  }, 30_000);

  it('20 participants sent to every POP host: 0 failed calls, one mixer, RTP relayed', async () => {
    const hosts = hostsOf(s);
    const conf = `e2e-${process.pid}`;
    const placed = await placeConference(s.cfg, conf, 20);
    const owner = hosts.find((h) => h.id === placed.serverId);
    expect(owner, `placed on a POP host, not ${placed.serverId}`).toBeDefined();
    // tier 2 holds it with the assignment's epoch before any participant's packet, and every host has heard the
    // claim (a host that has not would claim the conference itself for a participant landing there and keep it)
    const claim = await waitClaimed(owner!.router, conf, placed.epoch);
    expect(claim).toMatchObject({ owner: owner!.id, epoch: placed.epoch });
    const known = await waitClaimedEverywhere(hosts, conf, placed.epoch);
    expect(known.map((k) => k.owner)).toEqual(hosts.map(() => owner!.id));

    const before = await mixerTotals(mixerUrls(s.cfg));
    const forwardedBefore = await Promise.all(hosts.map((h) => popForwarded(h.control)));
    // 4 SIPp processes × 5 participants, at the same time, round-robin over the hosts (most land on non-owners)
    const runs = await Promise.all(
      [0, 1, 2, 3].map((i) => {
        const h = hosts[i % hosts.length]!;
        return sipp({ target: h.sip, local: h.address, conf, calls: 5, rate: 5, pauseMs: 3000 });
      }),
    );
    const t = total(runs);
    expect(t, runs.map((r) => r.output).join('\n')).toEqual({ successful: 20, failed: 0 });

    const after = await mixerTotals(mixerUrls(s.cfg));
    expect(after.received - before.received).toBeGreaterThan(0);
    expect(after.relayed - before.relayed).toBeGreaterThan(0);
    // one allocation for the conference: exactly one mixer holds it
    const holders = (await mixerStats(s)).filter((m) => m.detail.some((d) => d.conference === conf));
    expect(holders.map((m) => m.id)).toHaveLength(1);
    const d = holders[0]!.detail.find((x) => x.conference === conf)!;
    expect(d.received).toBeGreaterThan(0);
    expect(d.relayed).toBeGreaterThan(0);
    // the non-owners carried participants' packets to the owner
    const forwardedAfter = await Promise.all(hosts.map((h) => popForwarded(h.control)));
    const byNonOwners = hosts
      .map((h, i) => (h === owner ? 0 : forwardedAfter[i]! - forwardedBefore[i]!))
      .reduce((a, b) => a + b, 0);
    expect(byNonOwners).toBeGreaterThan(0);
  }, 180_000);

  it('kill -9 of the mixer holding a conference: later participants get a new mixer, 0 failed', async () => {
    const hosts = hostsOf(s);
    const conf = `e2e-mix-${process.pid}`;
    const placed = await placeConference(s.cfg, conf, 8);
    await waitClaimedEverywhere(hosts, conf, placed.epoch);
    const first = await sipp({
      target: hosts[0]!.sip,
      local: hosts[0]!.address,
      conf,
      calls: 2,
      pauseMs: 500,
    });
    expect(first).toMatchObject({ successful: 2, failed: 0 });
    const holder = (await mixerStats(s)).find((m) => m.detail.some((x) => x.conference === conf));
    expect(holder, 'a mixer holds the conference').toBeDefined();
    s.sup.kill(holder!.id, 'SIGKILL', { restart: false });
    // the balancer drops it from its queue (its link closed)
    await waitFor(
      `balancer drops ${holder!.id}`,
      async () => {
        const body = (await (
          await fetch(`http://${s.cfg.topology.host}:${s.cfg.topology.balancer.port}/v1/services`)
        ).json()) as { services: { containers: { id: string }[] }[] };
        return body.services.every((x) => x.containers.every((c) => c.id !== holder!.id)) || undefined;
      },
      { timeoutMs: 30_000 },
    );
    // a participant that joins before the owner's worker noticed the loss (its check runs every
    // --media-check-ms) is answered with the dead mixer's address and re-INVITEd to the new one moments later: it
    // accepts that re-INVITE if it comes (within 10 s), and carries on without one otherwise
    const later = await sipp({
      target: hosts[1]!.sip,
      local: hosts[1]!.address,
      conf,
      calls: 4,
      pauseMs: 500,
      reinviteWaitMs: 10_000,
      reinviteOptional: true,
    });
    expect(later, later.output).toMatchObject({ successful: 4, failed: 0 });
    const now = (await mixerStats(s)).find((m) => m.detail.some((x) => x.conference === conf));
    expect(now?.id).toBeDefined();
    expect(now!.id).not.toBe(holder!.id);
    await s.sup.revive(holder!.id);
  }, 180_000);

  it('kill -9 of the mixer under a live conference: the worker re-INVITEs its participants to a new mixer, RTP relayed there, 0 failed', async () => {
    const hosts = hostsOf(s);
    const conf = `e2e-reinv-${process.pid}`;
    const placed = await placeConference(s.cfg, conf, 8);
    const owner = hosts.find((h) => h.id === placed.serverId)!;
    await waitClaimedEverywhere(hosts, conf, placed.epoch);
    // 2 SIPp processes (2 RTP sources) × 2 participants; each waits for the re-INVITE, then plays RTP again
    const running = [0, 1].map((i) => {
      const h = hosts[i % hosts.length]!;
      return sipp({
        target: h.sip,
        local: h.address,
        conf,
        calls: 2,
        rate: 5,
        pauseMs: 4000,
        reinviteWaitMs: 60_000,
        timeoutS: 100,
      });
    });
    // all 4 participants in their dialogs (the owner's worker holds them) and RTP reaching the mixer: it is live
    const auth = { authorization: `Bearer ${s.cfg.token}` };
    await waitFor(
      `4 participants of ${conf} in dialogs on ${owner.id}`,
      async () => {
        const r = await fetch(`${owner.control}/conferences/${conf}`, { headers: auth });
        if (!r.ok) return undefined;
        const body = (await r.json()) as { holders: { participants: number }[] };
        return body.holders.reduce((n, h) => n + h.participants, 0) >= 4 || undefined;
      },
      { timeoutMs: 60_000 },
    );
    const holder = await waitFor(
      `a mixer receiving ${conf}'s RTP`,
      async () =>
        (await mixerStats(s)).find((m) => m.detail.some((d) => d.conference === conf && d.received > 0)),
      { timeoutMs: 30_000 },
    );
    s.sup.kill(holder.id, 'SIGKILL', { restart: false });
    const runs = await Promise.all(running);
    const t = total(runs);
    // every participant took the re-INVITE (else its call fails at the 45 s wait) and hung up normally
    const why = [
      ...runs.map((r) => r.output),
      ...hosts.map((h) =>
        logTail(s, `dispatcher-${h.id.slice(h.id.lastIndexOf('host') + 4)}`, /mixer|INVITE|media/),
      ),
    ].join('\n');
    expect(t, why).toEqual({ successful: 4, failed: 0 });
    const now = (await mixerStats(s)).find((m) => m.detail.some((d) => d.conference === conf));
    expect(now, 'a new mixer holds the conference').toBeDefined();
    expect(now!.id).not.toBe(holder.id);
    const d = now!.detail.find((x) => x.conference === conf)!;
    // the RTP SIPp played after the re-INVITE reached the new mixer, which relayed it between the sources
    expect(d.received).toBeGreaterThan(0);
    expect(d.relayed).toBeGreaterThan(0);
    expect(d.participants).toBeGreaterThanOrEqual(2);
    await s.sup.revive(holder.id);
  }, 240_000);

  it('kill -9 of the worker holding a conference: its dialogs are handed over, established and new participants succeed', async () => {
    const hosts = hostsOf(s);
    const conf = `e2e-wrk-${process.pid}`;
    const placed = await placeConference(s.cfg, conf, 8);
    const owner = hosts.find((h) => h.id === placed.serverId)!;
    await waitClaimedEverywhere(hosts, conf, placed.epoch);
    const auth = { authorization: `Bearer ${s.cfg.token}` };
    type Workers = { workers: { id: string; pid?: number; state?: { conferences: { id: string }[] } }[] };
    const workers = async () =>
      ((await (await fetch(`${owner.control}/workers`, { headers: auth })).json()) as Workers).workers;
    // 2 participants in a call while their worker dies
    const established = sipp({
      target: owner.sip,
      local: owner.address,
      conf,
      calls: 2,
      rate: 5,
      pauseMs: 6000,
    });
    const holder = await waitFor(
      `the worker holding ${conf}`,
      async () => (await workers()).find((w) => w.state?.conferences.some((c) => c.id === conf) && w.pid),
      { timeoutMs: 30_000 },
    );
    process.kill(holder.pid!, 'SIGKILL');
    // the dispatcher starts a replacement (a new pid) that takes new conferences' participants
    await waitFor(
      'a replacement worker',
      async () => {
        const ws = await workers();
        return ws.some((w) => w.pid !== undefined && w.pid !== holder.pid && w.state) || undefined;
      },
      { timeoutMs: 30_000 },
    );
    const entry = hosts.find((h) => h !== owner)!;
    const later = await sipp({ target: entry.sip, local: entry.address, conf, calls: 4, pauseMs: 500 });
    expect(later, later.output).toMatchObject({ successful: 4, failed: 0 });
    // the participants whose worker died mid-call: the primary mirrored their dialogs and handed them to the
    // replacement, which answers their BYE as the dead worker would have (docs/host-dispatcher.md, issue 9 §6)
    const before = await established;
    expect(before, before.output).toMatchObject({ successful: 2, failed: 0 });
  }, 240_000);

  it('kill -9 of the POP host owning a conference: it moves (new epoch), new participants succeed', async () => {
    const hosts = hostsOf(s);
    const conf = `e2e-host-${process.pid}`;
    const placed = await placeConference(s.cfg, conf, 8);
    const owner = hosts.find((h) => h.id === placed.serverId)!;
    const n = owner.id.slice(owner.id.lastIndexOf('host') + 4);
    for (const c of [`agent-${n}`, `pop-router-${n}`, `dispatcher-${n}`])
      s.sup.kill(c, 'SIGKILL', { restart: false });
    const [api] = [`http://${s.cfg.topology.host}:${s.cfg.topology.schedulers.basePort}`];
    const moved = await waitFor(
      `${conf} moved off ${owner.id}`,
      async () => {
        const body = (await (await fetch(`${api}/v1/conferences/${conf}`)).json()) as {
          assignment?: { serverId: string; epoch: number };
        };
        return body.assignment && body.assignment.serverId !== owner.id ? body.assignment : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(moved.epoch).toBeGreaterThan(placed.epoch);
    const next = hosts.find((h) => h.id === moved.serverId)!;
    // the new owner claimed it, and the host the participants enter through heard that claim (the dead owner's
    // old claim is what it knew before)
    await waitClaimedEverywhere(
      hosts.filter((h) => h !== owner),
      conf,
      moved.epoch,
    );
    const entry = hosts.find((h) => h !== owner && h !== next) ?? next;
    const r = await sipp({ target: entry.sip, local: entry.address, conf, calls: 4, pauseMs: 500 });
    expect(r, r.output).toMatchObject({ successful: 4, failed: 0 });
    for (const c of [`dispatcher-${n}`, `pop-router-${n}`, `agent-${n}`]) await s.sup.revive(c);
  }, 240_000);

  it('Redis restarted mid-run: calls of a placed conference succeed while it is down; placement resumes after', async () => {
    const hosts = hostsOf(s);
    const conf = `e2e-redis-${process.pid}`;
    const placed = await placeConference(s.cfg, conf, 8);
    const owner = hosts.find((h) => h.id === placed.serverId)!;
    await waitClaimedEverywhere(hosts, conf, placed.epoch);
    s.sup.kill('redis', 'SIGKILL', { restart: false });
    const api = `http://${s.cfg.topology.host}:${s.cfg.topology.schedulers.basePort}`;
    await waitFor(
      'the scheduler to see its store down',
      async () => {
        const r = await fetch(`${api}/healthz`).catch(() => undefined);
        return r?.status === 503 || undefined;
      },
      { timeoutMs: 30_000 },
    );
    // signalling and media need no Redis: the claim, the workers and the mixers hold the state
    const during = await sipp({ target: owner.sip, local: owner.address, conf, calls: 4, pauseMs: 500 });
    expect(during, during.output).toMatchObject({ successful: 4, failed: 0 });
    await s.sup.revive('redis');
    // until its connection is back the scheduler answers 503 with Retry-After (a client retries): wait for that
    await waitFor(
      'the scheduler to see its store up again',
      async () => (await fetch(`${api}/healthz`).catch(() => undefined))?.status === 200 || undefined,
      { timeoutMs: 30_000 },
    );
    const next = `e2e-redis2-${process.pid}`;
    const again = await placeConference(s.cfg, next, 4);
    const h = hosts.find((x) => x.id === again.serverId)!;
    await waitClaimedEverywhere(hosts, next, again.epoch);
    const after = await sipp({ target: h.sip, local: h.address, conf: next, calls: 4, pauseMs: 500 });
    expect(after, after.output).toMatchObject({ successful: 4, failed: 0 });
  }, 240_000);
});
