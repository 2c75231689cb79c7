/**
 * Containers as isolated processes: the balancer in its own network namespace, each mixer in its own network
 * AND PID namespace (`ip netns exec … unshare --pid --fork`), reaching the balancer only over its veth pair
 * (169.254.41.x/30). Needs root and iproute2; skipped otherwise. Namespaces and links are deleted in finally.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnProcess, stopAllSpawned, waitFor, type Spawned } from '@switchyard/testing';
import { API_TOKEN, MIXER_MAIN, REG_TOKEN } from './helpers/start.js';
import { BALANCER_MAIN } from './helpers/processes.js';

const canRun =
  process.getuid?.() === 0 &&
  (() => {
    try {
      execFileSync('ip', ['-V'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

const tag = `${process.pid % 10000}`;
const NS_B = `balancer-b${tag}`;
const mixerNs = (i: number) => `balancer-m${i}-${tag}`;
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
const CLIENT = path.resolve(import.meta.dirname, 'helpers/ns-client.mjs');
const created: string[] = [];

interface Reply {
  status: number;
  body: unknown;
}

/** HTTP requests made from inside the balancer's namespace (one short-lived process). */
function inBalancerNs(
  requests: Array<{ url: string; method?: string; body?: unknown; headers?: Record<string, string> }>,
): Reply[] {
  const out = execFileSync(
    'ip',
    ['netns', 'exec', NS_B, process.execPath, CLIENT, JSON.stringify(requests)],
    {
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  return JSON.parse(out.trim().split('\n').pop()!) as Reply[];
}

afterAll(async () => {
  await stopAllSpawned();
  for (const ns of created.splice(0)) {
    try {
      ip('netns', 'del', ns); // deleting a namespace deletes the veth ends inside it
    } catch {
      // already gone
    }
  }
});

describe.skipIf(!canRun)('mixers in their own network and PID namespaces', () => {
  it('register over their veth only, take allocations, and leave the queue when killed', async () => {
    ip('netns', 'add', NS_B);
    created.push(NS_B);
    ip('-n', NS_B, 'link', 'set', 'lo', 'up');
    for (const i of [1, 2]) {
      const ns = mixerNs(i);
      ip('netns', 'add', ns);
      created.push(ns);
      const b = `bal${tag}b${i}`;
      const m = `bal${tag}m${i}`;
      ip('link', 'add', b, 'netns', NS_B, 'type', 'veth', 'peer', 'name', m, 'netns', ns);
      ip('-n', NS_B, 'addr', 'add', `169.254.41.${4 * i - 3}/30`, 'dev', b);
      ip('-n', ns, 'addr', 'add', `169.254.41.${4 * i - 2}/30`, 'dev', m);
      ip('-n', NS_B, 'link', 'set', b, 'up');
      ip('-n', ns, 'link', 'set', m, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    const balancer = spawnProcess(
      'ip',
      [
        'netns',
        'exec',
        NS_B,
        process.execPath,
        BALANCER_MAIN,
        '--host',
        '127.0.0.1',
        '--port',
        '8700',
        '--register-host',
        '0.0.0.0',
        '--register-port',
        '8701',
        '--deadline-ms',
        '5000',
      ],
      {
        env: {
          ...process.env,
          LOG_LEVEL: 'warn',
          BALANCER_REGISTRATION_TOKEN: REG_TOKEN,
          BALANCER_API_TOKEN: API_TOKEN,
        },
      },
    );
    await waitFor('balancer ready', () => balancer.output().includes('"balancer":"ready"'), {
      timeoutMs: 60_000,
    });
    const mixers: Spawned[] = [];
    for (const i of [1, 2]) {
      mixers.push(
        spawnProcess(
          'ip',
          [
            'netns',
            'exec',
            mixerNs(i),
            'unshare',
            '--pid',
            '--fork',
            '--kill-child',
            process.execPath,
            MIXER_MAIN,
            '--id',
            `ns${i}`,
            '--host',
            `169.254.41.${4 * i - 2}`,
            '--rtp-host',
            `169.254.41.${4 * i - 2}`,
            '--balancer',
            `169.254.41.${4 * i - 3}:8701`,
            '--heartbeat-ms',
            '100',
          ],
          { env: { ...process.env, LOG_LEVEL: 'warn', MIXER_REGISTRATION_TOKEN: REG_TOKEN } },
        ),
      );
    }
    const ready = await Promise.all(
      mixers.map((m, i) =>
        waitFor(
          `mixer ns${i + 1} ready`,
          () =>
            m
              .output()
              .split('\n')
              .find((l) => l.includes('"mixer":"ready"')),
          {
            timeoutMs: 60_000,
          },
        ),
      ),
    );
    // each is PID 1 of its own PID namespace
    for (const line of ready) expect((JSON.parse(line) as { pid: number }).pid).toBe(1);

    const services = () =>
      (
        inBalancerNs([{ url: 'http://127.0.0.1:8700/v1/services' }])[0]!.body as {
          services: Array<{ containers: Array<{ id: string; address: string }> }>;
        }
      ).services[0]?.containers ?? [];
    await waitFor('both registered', () => services().length === 2, { timeoutMs: 60_000, intervalMs: 500 });
    const addresses = services()
      .map((c) => `${c.id}=${c.address.split(':')[0]}`)
      .sort();
    expect(addresses).toEqual(['ns1=169.254.41.2', 'ns2=169.254.41.6']);

    const allocs = inBalancerNs(
      Array.from({ length: 10 }, (_, k) => ({
        url: 'http://127.0.0.1:8700/v1/allocations',
        method: 'POST',
        headers: { authorization: `Bearer ${API_TOKEN}` },
        body: { service: 'mixer', key: `ns-conf-${k}` },
      })),
    );
    for (const a of allocs) expect(a.status).toBe(200);
    const owners = allocs.map(
      (a) => a.body as { containerId: string; allocation: { rtp: { address: string } } },
    );
    expect(new Set(owners.map((o) => o.containerId))).toEqual(new Set(['ns1', 'ns2']));
    for (const o of owners)
      expect(o.allocation.rtp.address).toBe(o.containerId === 'ns1' ? '169.254.41.2' : '169.254.41.6');

    await mixers[0]!.kill9(); // kills unshare, which kills its child (the mixer)
    await waitFor(
      'ns1 dropped',
      () =>
        services()
          .map((c) => c.id)
          .join() === 'ns2',
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    const after = inBalancerNs([
      {
        url: 'http://127.0.0.1:8700/v1/allocations',
        method: 'POST',
        headers: { authorization: `Bearer ${API_TOKEN}` },
        body: { service: 'mixer', key: 'ns-conf-0' },
      },
    ]);
    expect(after[0]).toMatchObject({ status: 200, body: { containerId: 'ns2' } });
  }, 240_000);
});
