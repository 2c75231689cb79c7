/**
 * `--smoke`: drives one conference through whatever the stack runs, for real, and says what it proved. A scheduler
 * places it on a conference server (a POP host when the topology has hosts); SIPp calls it with RTP; when the POP's
 * pop-routers run, the calls go to a host that does NOT own the conference (the routers must carry them to the
 * owner), otherwise to the owner's own SIP address; when mixers run, their counters must show the RTP.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { binOf, schedulerUrls, type StackConfig } from './stack.js';
import { popHosts } from './topology.js';
import { uacRtpScenario } from './scenarios.js';

export async function placeConference(
  cfg: StackConfig,
  id: string,
  participants: number,
): Promise<{ serverId: string; epoch: number }> {
  const urls = schedulerUrls(cfg.topology);
  if (urls.length === 0) throw new Error('the topology runs no scheduler');
  const res = await fetch(`${urls[0]}/v1/conferences`, {
    method: 'POST',
    headers: { authorization: `Bearer ${cfg.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id, expectedParticipants: participants }),
  });
  if (res.status !== 201) throw new Error(`POST /v1/conferences answered ${res.status}: ${await res.text()}`);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await fetch(`${urls[urls.length - 1]}/v1/conferences/${id}`);
    const body = (await r.json()) as { assignment?: { serverId: string; epoch: number } };
    if (body.assignment) return body.assignment;
    if (Date.now() > deadline)
      throw new Error(`conference ${id} not placed within 15 s: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs SIPp (uac with RTP) for `calls` participants of `conf` against `target`; throws unless every call passed. */
export function sippCalls(o: {
  target: string;
  local: string;
  conf: string;
  calls: number;
  rate?: number;
}): string {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-stack-sipp-'));
  try {
    const scenario = path.join(cwd, 'uac-rtp.xml');
    fs.writeFileSync(scenario, uacRtpScenario({ pauseMs: 1000 }));
    const r = spawnSync(
      'sipp',
      [
        ...['-sf', scenario, o.target, '-s', o.conf, '-m', String(o.calls), '-r', String(o.rate ?? 10)],
        ...['-l', String(o.calls), '-i', o.local, '-p', '0', '-mi', o.local, '-mp', '0'],
        ...['-nostdin', '-timeout', '30s', '-timeout_error'],
      ],
      { cwd, encoding: 'utf8', timeout: 45_000 },
    );
    if (r.status !== 0)
      throw new Error(`sipp exited ${r.status}: ${(r.stdout ?? '').slice(-800)}${r.stderr ?? ''}`);
    return r.stdout ?? '';
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

export async function* runSmoke(cfg: StackConfig): AsyncGenerator<string> {
  const t = cfg.topology;
  const id = `smoke-${process.pid}`;
  const placed = await placeConference(cfg, id, 4);
  yield `conference ${id} placed on ${placed.serverId} (epoch ${placed.epoch})`;
  const hosts = popHosts(t);
  const owner = hosts.find((h) => h.id === placed.serverId);
  if (!owner) {
    yield `placed on a simulated server (no POP host owns it): no SIP call possible`;
    return;
  }
  const routers = 'file' in binOf(cfg.root, 'apps/pop-router');
  if (routers) {
    const claim = await waitClaimed(owner.router, id, placed.epoch);
    yield `pop-router of ${owner.id} holds ${id}: owner ${claim.owner}, epoch ${claim.epoch}`;
    // the call enters through a non-owner: it must have heard the claim, or it would keep the call itself
    await waitClaimedEverywhere(hosts, id, placed.epoch);
  }
  const mixers = mixerUrls(cfg);
  const before = await mixerTotals(mixers);
  const entry = routers ? (hosts.find((h) => h !== owner) ?? owner) : owner;
  sippCalls({ target: entry.sip, local: entry.address, conf: id, calls: 4 });
  yield `4 SIPp calls (with RTP) to conference ${id} through ${entry.sip}${
    entry === owner ? ' (the owner itself: no pop-router on this branch)' : ` (not the owner ${owner.id})`
  }: all succeeded`;
  if (mixers.length) {
    const after = await mixerTotals(mixers);
    const received = after.received - before.received;
    const relayed = after.relayed - before.relayed;
    if (received <= 0) throw new Error(`the mixers received no RTP (stats ${JSON.stringify(after)})`);
    yield `mixers received ${received} RTP packets and relayed ${relayed}`;
  }
}

/** Mixer control URLs when the stack runs them. */
export function mixerUrls(cfg: StackConfig): string[] {
  const t = cfg.topology;
  if (!('file' in binOf(cfg.root, 'apps/mixer')) || !('file' in binOf(cfg.root, 'apps/container-balancer')))
    return [];
  return Array.from(
    { length: t.balancer.mixers },
    (_, i) => `http://${t.host}:${t.balancer.mixerBasePort + i}`,
  );
}

/** Sum of the mixers' RTP counters (`GET /v1/stats`); a mixer that does not answer counts 0. */
export async function mixerTotals(urls: string[]): Promise<{ received: number; relayed: number }> {
  let received = 0;
  let relayed = 0;
  for (const u of urls) {
    const s = (await fetch(`${u}/v1/stats`, { signal: AbortSignal.timeout(2000) })
      .then((r) => r.json())
      .catch(() => ({}))) as { received?: number; relayed?: number };
    received += s.received ?? 0;
    relayed += s.relayed ?? 0;
  }
  return { received, relayed };
}

/**
 * Waits (bounded) until every host's pop-router reports the conference claimed with at least `epoch` (the owner's
 * claim, heard by gossip). Call it before a participant enters through a host other than the owner: a host that
 * has not heard the claim yet claims the conference itself for that participant and keeps the call (CI saw it).
 */
export async function waitClaimedEverywhere(
  hosts: readonly { router: string }[],
  id: string,
  epoch: number,
): Promise<{ owner: string; epoch: number }[]> {
  return Promise.all(hosts.map((h) => waitClaimed(h.router, id, epoch)));
}

/** Waits (bounded) until the owner's pop-router reports the conference claimed with at least `epoch`. */
export async function waitClaimed(
  routerUrl: string,
  id: string,
  epoch: number,
): Promise<{ owner: string; epoch: number }> {
  const deadline = Date.now() + 15_000;
  let last = '';
  for (;;) {
    const r = await fetch(`${routerUrl}/v1/sessions/${id}`, { signal: AbortSignal.timeout(2000) }).catch(
      () => undefined,
    );
    if (r?.ok) {
      const s = (await r.json()) as { owner: string; epoch: number };
      if (s.epoch >= epoch) return s;
      last = JSON.stringify(s);
    } else last = `status ${r?.status}`;
    if (Date.now() > deadline) throw new Error(`${id} not claimed with epoch ${epoch} within 15 s: ${last}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}
