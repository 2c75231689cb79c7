/**
 * One conference through all four tiers, for real: schedulers (tier 1) place it on a POP host, whose agent has the
 * host's pop-router (tier 2) claim it with the assignment's epoch; SIPp participants sent to every host of the POP
 * reach the owner's dispatcher (tier 3), whose worker allocates a mixer through the container balancer (tier 4) and
 * answers with the mixer's RTP address; SIPp's RTP reaches the mixer, which relays it between the participants.
 * Then failures, each with its loss counted against the bound documented in docs/e2e.md.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mixerTotals, mixerUrls, placeConference, waitClaimed } from '@switchyard/stack';
import { waitFor } from '@switchyard/testing';
import { hostsOf, sipp, startStack, type E2eStack, type SippResult } from './helpers.js';

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
  }, 240_000);
  afterAll(async () => {
    await s?.stop();
  }, 30_000);

  it('20 participants sent to every POP host: 0 failed calls, one mixer, RTP relayed', async () => {
    const hosts = hostsOf(s);
    const conf = `e2e-${process.pid}`;
    const placed = await placeConference(s.cfg, conf, 20);
    const owner = hosts.find((h) => h.id === placed.serverId);
    expect(owner, `placed on a POP host, not ${placed.serverId}`).toBeDefined();
    // tier 2 holds it with the assignment's epoch before any participant's packet
    const claim = await waitClaimed(owner!.router, conf, placed.epoch);
    expect(claim).toMatchObject({ owner: owner!.id, epoch: placed.epoch });

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
    await placeConference(s.cfg, conf, 8);
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
    const later = await sipp({
      target: hosts[1]!.sip,
      local: hosts[1]!.address,
      conf,
      calls: 4,
      pauseMs: 500,
    });
    expect(later, later.output).toMatchObject({ successful: 4, failed: 0 });
    const now = (await mixerStats(s)).find((m) => m.detail.some((x) => x.conference === conf));
    expect(now?.id).toBeDefined();
    expect(now!.id).not.toBe(holder!.id);
    await s.sup.revive(holder!.id);
  }, 180_000);

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
    await waitClaimed(next.router, conf, moved.epoch);
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
    await waitClaimed(owner.router, conf, placed.epoch);
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
    await waitClaimed(h.router, next, again.epoch);
    const after = await sipp({ target: h.sip, local: h.address, conf: next, calls: 4, pauseMs: 500 });
    expect(after, after.output).toMatchObject({ successful: 4, failed: 0 });
  }, 240_000);
});
