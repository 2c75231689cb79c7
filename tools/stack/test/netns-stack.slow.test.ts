/**
 * `npm start -- --netns` (root; CI runs as root): the composed stack with its POP of 3 hosts in network namespaces
 * behind the ECMP router namespace (vxlan, multicast gossip), the shared services in a namespace of their own.
 * A conference is placed by the schedulers on a POP host, whose pop-router claims it; SIPp in the client namespace
 * calls the VIP through the ECMP route (a socket per call); then the stack stops and nothing is left: no namespace,
 * no process. Without root the suite is skipped (it says so) and `--netns` refuses with a clear message (tested).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freePort,
  listNamespaces,
  NETNS_POP_CLIENT,
  runCommand,
  runSipp,
  waitFor,
} from '@switchyard/testing';
import {
  NETNS_SERVICES_ADDRESS,
  netnsRefusal,
  netnsStackUsage,
  parseTopology,
  startNetnsStack,
  type NetnsStack,
  type SupervisorEvent,
} from '../src/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('netns stack suite skipped: --netns needs root (network namespaces)');
const PREFIX = 'popns-stk';
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('--netns refusal', () => {
  it('without root, --netns refuses with a message naming root and the loopback alternative', () => {
    expect(netnsRefusal(1000)).toMatch(/--netns needs root/);
    expect(netnsRefusal(1000)).toMatch(/without --netns/);
    expect(netnsRefusal(0)).toBeUndefined();
  });
});

describe.skipIf(!isRoot)('npm start -- --netns', () => {
  let stack: NetnsStack | undefined;
  let dir = '';
  const pids: number[] = [];
  const events: SupervisorEvent[] = [];
  const inServices = (args: string[]) =>
    runCommand('ip', ['netns', 'exec', stack!.services, ...args], 20_000);

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'popns-stk-'));
    stack = await startNetnsStack({
      root,
      dir,
      prefix: PREFIX,
      token: 'netns-stack-test-token-0123456789',
      events: (e) => events.push(e),
      // ports are those of the default topology: they are bound inside the test's own namespaces
      topology: parseTopology({
        schedulers: { count: 2 },
        pop: { hosts: 3, workers: 1 },
        balancer: { mixers: 1 },
        console: { enabled: true },
      }),
      consoleHostPort: await freePort(),
    });
    pids.push(...Object.values(stack.sup.pids()).filter((p): p is number => typeof p === 'number'));
    for (const h of stack.pop.hosts) pids.push(h.router.pid, h.dispatcher.pid);
  }, 600_000);

  afterAll(async () => {
    await stack?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('prints commands that name the namespaces, the VIP and the services address', () => {
    const usage = netnsStackUsage(stack!);
    expect(usage).toContain(`ip netns exec ${stack!.network.client} sipp -sn uac ${stack!.pop.vip}:5060`);
    expect(usage).toContain('-t un -max_socket');
    expect(usage).toContain(
      `ip netns exec ${stack!.services} curl -s -X POST http://${NETNS_SERVICES_ADDRESS}:`,
    );
  });

  it('the console, in the services namespace, answers from this namespace on its printed 127.0.0.1 URL', async () => {
    const url = stack!.consoleUrl;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(netnsStackUsage(stack!)).toContain(url);
    // a plain request from the test's own (host) namespace: the bridge carries it into the services namespace
    const health = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(10_000) });
    expect(health.status).toBe(200);
    const page = await fetch(`${url}/`, { signal: AbortSignal.timeout(10_000) });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
  });

  it('places a conference on a POP host and SIPp calls through the ECMP route succeed (0 failed)', async () => {
    const s = stack!;
    const t = s.cfg.topology;
    expect((await s.pop.vipRoute()).match(/nexthop/g)).toHaveLength(3);
    const api = `http://${NETNS_SERVICES_ADDRESS}:${t.schedulers.basePort}`;
    const id = 'netns-conf-1';
    const auth = ['-H', `authorization: Bearer ${s.cfg.token}`];
    await inServices([
      'curl',
      '-sf',
      '-X',
      'POST',
      `${api}/v1/conferences`,
      ...auth,
      '-H',
      'content-type: application/json',
      '-d',
      JSON.stringify({ id, expectedParticipants: 6 }),
    ]);
    const placed = await waitFor(
      `${id} placed on a POP host`,
      async () => {
        const body = JSON.parse(await inServices(['curl', '-sf', `${api}/v1/conferences/${id}`])) as {
          assignment?: { serverId: string; epoch: number };
        };
        return body.assignment;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    const owner = s.pop.hosts.find((h) => h.id === placed.serverId);
    expect(owner, `placed on ${placed.serverId}`).toBeDefined();
    // the owner's pop-router claimed it with the assignment's epoch (C2/C3), before any packet
    await waitFor(
      `${owner!.id}'s pop-router holds ${id}`,
      async () => {
        const v = (await s.pop.get(owner!, 7947, `/v1/sessions/${id}`).catch(() => undefined)) as
          { owner: string; epoch: number } | undefined;
        return v?.owner === owner!.id && v.epoch === placed.epoch;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    // and every host knows that owner (gossip) before the first INVITE: a host that did not know it yet would claim
    // the conference itself, lose to the assignment's epoch, and forward the BYE of a dialog it holds to the winner
    // (481; see the report: a race of the product, not of this test's making)
    await waitFor(
      `every host names ${owner!.id} as ${id}'s owner`,
      async () => {
        for (const h of s.pop.hosts) {
          const v = (await s.pop.get(h, 7947, `/v1/sessions/${id}`).catch(() => undefined)) as
            { owner: string } | undefined;
          if (v?.owner !== owner!.id) return false;
        }
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    const r = await runSipp({
      netns: s.network.client,
      localIp: NETNS_POP_CLIENT,
      target: `${s.pop.vip}:5060`,
      service: id,
      calls: 6,
      rate: 3,
      limit: 6,
      transport: 'un',
      callLengthMs: 1000,
      timeoutS: 60,
    });
    // on failure: what the hosts' dispatchers (and their workers) said
    const why = () =>
      `${r.diagnostics}\n${s.pop.hosts.map((h) => `--- ${h.id} dispatcher:\n${h.dispatcher.output().slice(-3000)}`).join('\n')}`;
    expect(r.failed, why()).toBe(0);
    expect(r.successful, why()).toBe(6);
  }, 240_000);

  it('kill -9 of a POP host process (dispatcher, then pop-router): restarted with a new pid, serving again', async () => {
    const s = stack!;
    const h = s.pop.hosts[1]!;
    for (const [role, name] of [
      ['dispatcher', `dispatcher-${h.index}`],
      ['router', `pop-router-${h.index}`],
    ] as const) {
      const old = h[role].pid;
      const oldWorkers = role === 'dispatcher' ? s.pop.pids(h).slice(2) : [];
      process.kill(old, 'SIGKILL');
      const next = await waitFor(
        `${name} restarted with a new pid`,
        () => {
          const e = events.find((x) => x.type === 'restarted' && x.name === name && x.pid !== old);
          return e?.type === 'restarted' ? e.pid : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      expect(events).toContainEqual(
        expect.objectContaining({ type: 'exited', name, pid: old, signal: 'SIGKILL' }),
      );
      expect(h[role].pid).toBe(next);
      pids.push(next!);
      // serving: the keeper reports it ready (a dispatcher: all its workers; a router: its ready line)
      await waitFor(
        `${name} pid ${next} ready`,
        () => events.some((e) => e.type === 'ready' && e.name === name && e.pid === next),
        { timeoutMs: 180_000, intervalMs: 250 },
      );
      // the dead dispatcher's workers went with it (killed by its process group before the new one bound)
      expect(oldWorkers.filter(alive)).toEqual([]);
      pids.push(...s.pop.pids(h).slice(2));
    }
    // the restarted router rejoined: every host sees every host alive again, and its API answers with the token
    await s.pop.untilConverged(s.pop.hosts, 60_000);
    const health = (await s.pop.get(h, 8060, '/healthz')) as { ready?: number };
    expect(health.ready).toBe(1);
  }, 300_000);

  it('stop() leaves no namespace and no process behind', async () => {
    expect(pids.length).toBeGreaterThan(6);
    await stack!.stop();
    expect((await listNamespaces()).filter((n) => n.startsWith(`${PREFIX}-`))).toEqual([]);
    await waitFor('every process of the stack gone', () => pids.every((p) => !alive(p)), {
      timeoutMs: 20_000,
    });
  }, 120_000);
});
