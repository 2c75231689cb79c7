/**
 * Real sockets: 5 member processes on loopback, each on its own 127.0.1.N, unicast fan-out, test profile timers
 * (a round is 200 ms). They converge on membership and ownership; a member killed with SIGKILL is detected.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnProcess, stopAllSpawned, waitFor, type Spawned } from '@switchyard/testing';

const FIXTURE = new URL('./fixtures/member.mjs', import.meta.url).pathname;
const KEY = 'udp-test-key-0123456789abcdef';

interface Status {
  type: 'status' | 'ready';
  id: string;
  address?: string;
  members: Record<string, string>;
  digest: string;
  owners: number;
  orphaned: string[];
}

function lastLine(p: Spawned, type: string): Status | undefined {
  const lines = p.output().trim().split('\n').reverse();
  for (const l of lines) {
    if (!l.startsWith('{')) continue;
    try {
      const v = JSON.parse(l) as Status;
      if (v.type === type) return v;
    } catch {
      // a partial line at the end of the buffer
    }
  }
  return undefined;
}

/** Each member's last status, for a failure message: who sees whom in which state, digests and entry counts. */
function summary(procs: Spawned[]): string {
  return procs
    .map((p, i) => {
      const s = lastLine(p, 'status');
      if (!s) return `host-${i + 1}: no status yet (output: ${p.output().slice(-200)})`;
      const seen = Object.entries(s.members)
        .map(([id, st]) => `${id}=${st}`)
        .join(' ');
      return `${s.id}: ${seen}; digest ${s.digest}; owners ${s.owners}; orphaned [${s.orphaned.join(',')}]`;
    })
    .join('\n');
}

/** `waitFor`, with every member's last status appended to the message when it times out. */
async function waitForMembers<T>(
  what: string,
  procs: Spawned[],
  check: () => T | undefined | false,
  timeoutMs: number,
): Promise<T> {
  try {
    return await waitFor(what, check, { timeoutMs, intervalMs: 100 });
  } catch (err) {
    throw new Error(`${(err as Error).message}\nlast status of each member:\n${summary(procs)}`);
  }
}

function start(i: number, seeds: string[]): Spawned {
  const cfg = {
    id: `host-${i}`,
    host: `127.0.1.${i}`,
    seeds,
    claims: [`conf-${i}-a`, `conf-${i}-b`],
    key: KEY,
  };
  return spawnProcess(process.execPath, [FIXTURE], {
    env: { ...process.env, GOSSIP_MEMBER: JSON.stringify(cfg) },
  });
}

describe('UDP unicast: 5 member processes on 127.0.1.1-5', () => {
  afterAll(async () => {
    await stopAllSpawned();
  });

  it('converge on membership and ownership; a SIGKILLed member is declared dead by the others', async () => {
    const first = start(1, []);
    const ready = await waitFor(`host-1 ready (output: ${first.output().slice(-300)})`, () =>
      lastLine(first, 'ready'),
    );
    const procs = [first];
    for (let i = 2; i <= 5; i++) procs.push(start(i, [ready.address!]));
    const ids = procs.map((_, i) => `host-${i + 1}`);

    await waitForMembers(
      'all 5 members see all 5 alive and hold the same 10 ownership entries',
      procs,
      () => {
        const st = procs.map((p) => lastLine(p, 'status'));
        if (st.some((s) => !s)) return false;
        const allAlive = st.every((s) => ids.every((id) => s!.members[id] === 'alive'));
        const sameDigest = new Set(st.map((s) => s!.digest)).size === 1;
        return allAlive && sameDigest && st.every((s) => s!.owners === 10);
      },
      20_000,
    );

    await procs[2]!.kill9();
    const others = procs.filter((_, i) => i !== 2);
    await waitForMembers(
      'the 4 survivors declare host-3 dead and report its 2 sessions orphaned',
      others,
      () =>
        others.every((p) => {
          const s = lastLine(p, 'status');
          return (
            s?.members['host-3'] === 'dead' &&
            s.orphaned.includes('conf-3-a') &&
            s.orphaned.includes('conf-3-b')
          );
        }),
      20_000,
    );
    for (const p of others) {
      const s = lastLine(p, 'status')!;
      expect(s.members['host-3']).toBe('dead');
      for (const id of ids.filter((x) => x !== 'host-3')) expect(s.members[id]).toBe('alive');
    }
    // a graceful stop (SIGTERM → leave) is seen as left, not dead
    await procs[4]!.stop();
    await waitFor(
      'survivors see host-5 left',
      () => others.slice(0, 3).every((p) => lastLine(p, 'status')?.members['host-5'] === 'left'),
      { timeoutMs: 10_000, intervalMs: 100 },
    );
  });
});
