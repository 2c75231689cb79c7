/**
 * UDP multicast for real, in network namespaces (root only): 3 namespaces with link-local addresses
 * (169.254.77.1-3) on one bridge that lives in a 4th namespace, so the host's own network is never touched.
 * Namespaces are deleted in afterAll, also when a test fails.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, spawnProcess, stopAllSpawned, waitFor, type Spawned } from '@switchyard/testing';

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;
const KEY = 'netns-test-key-0123456789abcdef';
const GROUP = '239.255.77.1';
const tag = `g${process.pid % 100000}`;
const BRIDGE_NS = `${tag}-br`;
const NS = [1, 2, 3].map((i) => `${tag}-${i}`);
const addr = (i: number) => `169.254.77.${i}`;

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces';
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'pipe' });
  } catch {
    return '`ip netns` is not available';
  }
  return undefined;
}

const reason = skipReason();
if (reason) console.warn(`multicast-netns suite skipped: ${reason}`);

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' }).toString();

function createNamespaces(): void {
  ip('netns', 'add', BRIDGE_NS);
  ip('-n', BRIDGE_NS, 'link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0');
  ip('-n', BRIDGE_NS, 'link', 'set', 'br0', 'up');
  NS.forEach((ns, k) => {
    const i = k + 1;
    ip('netns', 'add', ns);
    ip('link', 'add', `v${i}`, 'netns', ns, 'type', 'veth', 'peer', 'name', `p${i}`, 'netns', BRIDGE_NS);
    ip('-n', BRIDGE_NS, 'link', 'set', `p${i}`, 'master', 'br0');
    ip('-n', BRIDGE_NS, 'link', 'set', `p${i}`, 'up');
    ip('-n', ns, 'addr', 'add', `${addr(i)}/24`, 'dev', `v${i}`);
    ip('-n', ns, 'link', 'set', `v${i}`, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', `v${i}`);
  });
}

function deleteNamespaces(): void {
  for (const ns of [...NS, BRIDGE_NS]) {
    try {
      ip('netns', 'del', ns);
    } catch {
      // not created (set-up failed half way) or already gone
    }
  }
}

function lines(p: Spawned): Record<string, unknown>[] {
  return p
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

function inNs(ns: string, fixture: string, envName: string, cfg: unknown): Spawned {
  return spawnProcess('ip', ['netns', 'exec', ns, process.execPath, `${FIXTURES}${fixture}`], {
    env: { ...process.env, [envName]: JSON.stringify(cfg) },
  });
}

describe.skipIf(reason)(
  `UDP multicast across 3 network namespaces${reason ? ` (skipped: ${reason})` : ''}`,
  () => {
    let port = 0;

    beforeAll(async () => {
      port = await freePort();
      deleteNamespaces();
      createNamespaces();
    });

    afterAll(async () => {
      await stopAllSpawned();
      deleteNamespaces();
      const left = ip('netns', 'list');
      expect(left).not.toContain(tag);
    });

    it('a multicast datagram from one namespace reaches the two others with the sender address', async () => {
      const mc = (i: number) => ({ group: GROUP, port, interfaceAddress: addr(i) });
      const r2 = inNs(NS[1]!, 'mcast-echo.mjs', 'MCAST_ECHO', { multicast: mc(2) });
      const r3 = inNs(NS[2]!, 'mcast-echo.mjs', 'MCAST_ECHO', { multicast: mc(3) });
      for (const r of [r2, r3])
        await waitFor(`receiver ready (${r.output().slice(-300)})`, () =>
          lines(r).some((l) => l['type'] === 'ready'),
        );
      const s1 = inNs(NS[0]!, 'mcast-echo.mjs', 'MCAST_ECHO', { multicast: mc(1), send: true });
      for (const r of [r2, r3]) {
        const got = await waitFor(`multicast datagram in the receiver (${r.output().slice(-300)})`, () =>
          lines(r).find((l) => l['type'] === 'got'),
        );
        expect(got['from']).toBe(`${addr(1)}:${port}`);
        expect(String(got['text'])).toMatch(/^hello-/);
      }
      await Promise.all([s1.stop(), r2.stop(), r3.stop()]);
    });

    it('3 gossip members on the multicast transport converge on membership and ownership', async () => {
      const member = (i: number, seeds: string[]) =>
        inNs(NS[i - 1]!, 'member.mjs', 'GOSSIP_MEMBER', {
          id: `ns-host-${i}`,
          seeds,
          claims: [`conf-${i}`],
          key: KEY,
          multicast: { group: GROUP, port, interfaceAddress: addr(i) },
        });
      const procs = [member(1, []), member(2, [`${addr(1)}:${port}`]), member(3, [`${addr(1)}:${port}`])];
      const last = (p: Spawned) =>
        lines(p)
          .filter((l) => l['type'] === 'status')
          .at(-1) as
          | {
              members: Record<string, string>;
              digest: string;
              owners: number;
              multicast: boolean;
              broadcasts: number;
            }
          | undefined;
      await waitFor(
        `3 members alive everywhere with the same 3 ownership entries (${procs.map((p) => p.output().slice(-200)).join(' | ')})`,
        () => {
          const st = procs.map(last);
          if (st.some((s) => !s)) return false;
          const alive = st.every((s) => [1, 2, 3].every((i) => s!.members[`ns-host-${i}`] === 'alive'));
          return alive && new Set(st.map((s) => s!.digest)).size === 1 && st.every((s) => s!.owners === 3);
        },
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      const st = procs.map(last);
      expect(st.every((s) => s!.multicast && s!.broadcasts > 0)).toBe(true);
      await Promise.all(procs.map((p) => p.stop()));
    });
  },
);
