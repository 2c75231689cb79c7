/**
 * End to end with real processes: a balancer process and mixer processes dialing in. Least-loaded placement of
 * 1,000 allocations checked against the balancer's own pick record, sticky keys, RTP relayed through an
 * allocated conference, kill -9 under bounded load, SIGSTOP past the heartbeat deadline, reverse mode (HTTP/2
 * over the dialed connection). Waits are bounded polls; no wall-clock assertion.
 */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAllSpawned, waitFor } from '@switchyard/testing';
import { API_TOKEN, HOST } from './helpers/start.js';
import {
  metric,
  queueIds,
  spawnBalancer,
  spawnMixerAt,
  waitForQueueAt,
  type BalancerProcess,
  type ServiceList,
} from './helpers/processes.js';
import type { MixerProcess } from './helpers/start.js';

const auth = { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' };

interface Alloc {
  key: string;
  containerId: string;
  allocation: { conference: string; rtp: { address: string; port: number } };
}
interface Pick {
  seq: number;
  key: string | null;
  chosen: string;
  chosenScore: number;
  candidates: Array<{ id: string; score: number }>;
}

const allocate = async (url: string, key: string): Promise<Alloc> => {
  const res = await fetch(`${url}/v1/allocations`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ service: 'mixer', key }),
  });
  if (res.status !== 200) throw new Error(`allocation ${key}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as Alloc;
};

/** Runs `n` tasks with at most `width` in flight. */
async function bounded<T>(n: number, width: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await task(i);
      }
    }),
  );
  return out;
}

afterAll(async () => {
  await stopAllSpawned();
});

describe('three mixers, 1,000 allocations', () => {
  let b: BalancerProcess;
  const mixerUrl = new Map<string, string>();
  beforeAll(async () => {
    // a deadline well above any scheduling stall of this shared machine: no healthy mixer is dropped mid-test
    b = await spawnBalancer([
      '--deadline-ms',
      '5000',
      '--pick-log-size',
      '5000',
      '--max-sticky-keys',
      '5000',
    ]);
    const ms = await Promise.all(
      ['m1', 'm2', 'm3'].map((id) => spawnMixerAt(b.register, id, ['--max-conferences', '2000'])),
    );
    for (const m of ms) mixerUrl.set(m.id, m.url!);
    await waitForQueueAt(b.url, ['m1', 'm2', 'm3']);
  });

  it('sends each allocation to a container that was least-loaded at that moment; keys stay put', async () => {
    const allocs = await bounded(1000, 8, (i) => allocate(b.url, `conf-${i}`));
    const { picks } = (await (await fetch(`${b.url}/v1/picks`)).json()) as { picks: Pick[] };
    const byKey = new Map(picks.filter((p) => p.key !== null).map((p) => [p.key!, p]));
    expect(byKey.size).toBe(1000);
    for (const a of allocs) {
      const p = byKey.get(a.key)!;
      expect(p.chosen).toBe(a.containerId);
      expect(p.candidates.map((c) => c.id)).toContain(p.chosen);
      expect(p.chosenScore).toBe(Math.min(...p.candidates.map((c) => c.score)));
    }
    const perMixer = new Map<string, number>();
    for (const a of allocs) perMixer.set(a.containerId, (perMixer.get(a.containerId) ?? 0) + 1);
    expect([...perMixer.keys()].sort()).toEqual(['m1', 'm2', 'm3']);
    // sticky: every key allocated again lands where it was, with the same answer
    const again = await bounded(100, 8, (i) => allocate(b.url, `conf-${i * 10}`));
    for (const a of again) {
      const first = allocs[Number(a.key.slice(5))]!;
      expect(a.containerId).toBe(first.containerId);
      expect(a.allocation).toEqual(first.allocation);
    }
  }, 180_000); // 1,200 allocations on a shared 2-core machine: a bound, not a timing

  it('relays RTP among the participants of an allocated conference (real UDP)', async () => {
    const a = await allocate(b.url, 'rtp-conf');
    const socks = await Promise.all(
      [0, 1, 2].map(
        () =>
          new Promise<dgram.Socket>((resolve) => {
            const s = dgram.createSocket('udp4');
            s.bind(0, HOST, () => resolve(s));
          }),
      ),
    );
    const got = socks.map(() => new Set<string>());
    socks.forEach((s, i) => s.on('message', (m) => got[i]!.add(m.subarray(12).toString())));
    try {
      const rtp = (from: number, n: number) => {
        const b = Buffer.alloc(12 + 8);
        b[0] = 0x80; // RTP version 2
        b.write(`p${from}-${n}`.padEnd(8), 12);
        return b;
      };
      // each participant announces itself (its first packet), then sends 5 more
      for (let n = 0; n < 6; n++)
        for (let i = 0; i < 3; i++)
          socks[i]!.send(rtp(i, n), a.allocation.rtp.port, a.allocation.rtp.address);
      await waitFor('every participant hears both others', () =>
        got.every((g, i) => [0, 1, 2].filter((j) => j !== i).every((j) => g.has(`p${j}-5`.padEnd(8)))),
      );
      expect([...got[0]!].some((p) => p.startsWith('p0-'))).toBe(false); // never its own packets back
      // the owning mixer's own counters
      const detail = (await (await fetch(`${mixerUrl.get(a.containerId)}/v1/stats`)).json()) as {
        relayed: number;
        detail: Array<{ conference: string; participants: number; relayed: number }>;
      };
      const conf = detail.detail.find((d) => d.conference === 'rtp-conf')!;
      expect(conf.participants).toBe(3);
      expect(conf.relayed).toBeGreaterThanOrEqual(30); // 3 senders × 5 packets × 2 others (the first ones may race the join)
    } finally {
      for (const s of socks) s.close();
    }
  });
});

describe('kill -9 of a mixer under bounded load', () => {
  let b: BalancerProcess;
  const mixers = new Map<string, MixerProcess>();
  beforeAll(async () => {
    b = await spawnBalancer(['--deadline-ms', '5000']);
    for (const m of await Promise.all(['k1', 'k2', 'k3'].map((id) => spawnMixerAt(b.register, id))))
      mixers.set(m.id, m);
    await waitForQueueAt(b.url, ['k1', 'k2', 'k3']);
  });

  it('leaves the queue when its socket closes; idempotent requests see no error; non-idempotent failures are counted', async () => {
    const failuresBefore = await metric(b.url, 'balancer_non_idempotent_failures_total', 'service="mixer"');
    let killed: Promise<void> | undefined;
    const results = await bounded(600, 8, async (i) => {
      if (i === 150) killed = mixers.get('k1')!.proc.kill9();
      if (i % 4 === 3) {
        const r = await fetch(`${b.url}/svc/mixer/v1/allocations`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ key: `np-${i}` }),
        });
        const body = (await r.json()) as { code?: string };
        return { idempotent: false, status: r.status, code: body.code };
      }
      const r = await fetch(`${b.url}/svc/mixer/v1/stats`);
      await r.arrayBuffer();
      return { idempotent: true, status: r.status, code: undefined };
    });
    await killed;
    await waitForQueueAt(b.url, ['k2', 'k3']);
    const idem = results.filter((r) => r.idempotent);
    expect(idem.filter((r) => r.status !== 200)).toEqual([]);
    const nonIdem = results.filter((r) => !r.idempotent);
    const failed = nonIdem.filter((r) => r.status !== 200);
    for (const f of failed) expect(f).toMatchObject({ status: 502, code: 'BAL_ERR_UPSTREAM' });
    const failuresAfter = await metric(b.url, 'balancer_non_idempotent_failures_total', 'service="mixer"');
    expect(failuresAfter - failuresBefore).toBe(failed.length);
    expect(nonIdem.length - failed.length).toBeGreaterThan(0);
  }, 120_000);
});

describe('silent death and reverse mode', () => {
  let b: BalancerProcess;
  beforeAll(async () => {
    b = await spawnBalancer(); // default heartbeat deadline (1.5 s, checked every 250 ms)
  });

  it('drops a SIGSTOPped mixer after the heartbeat deadline; it registers again after SIGCONT', async () => {
    const [s1, s2] = await Promise.all([spawnMixerAt(b.register, 's1'), spawnMixerAt(b.register, 's2')]);
    await waitForQueueAt(b.url, ['s1', 's2']);
    const dropsBefore = await metric(b.url, 'balancer_containers_dropped_total', 'service="mixer"');
    process.kill(s1!.proc.pid, 'SIGSTOP');
    try {
      await waitFor('s1 dropped after its deadline', async () => !(await queueIds(b.url)).includes('s1'), {
        timeoutMs: 20_000,
      });
      expect(await metric(b.url, 'balancer_containers_dropped_total', 'service="mixer"')).toBeGreaterThan(
        dropsBefore,
      );
    } finally {
      process.kill(s1!.proc.pid, 'SIGCONT');
    }
    await waitForQueueAt(b.url, ['s1', 's2']);
    // SIGTERM: each says goodbye and leaves its queue at once
    await Promise.all([s1!.proc.stop(), s2!.proc.stop()]);
    await waitForQueueAt(b.url, []);
  }, 120_000);

  it('serves a reverse-mode mixer (no listening port) over HTTP/2 on the connection it dialed', async () => {
    const r = await spawnMixerAt(b.register, 'r1', ['--mode', 'reverse']);
    expect(r.url).toBeNull();
    await waitFor('r1 attached', async () => (await queueIds(b.url)).includes('r1'), { timeoutMs: 30_000 });
    const s = (await (await fetch(`${b.url}/v1/services`)).json()) as ServiceList;
    expect(s.services[0]!.containers.find((c) => c.id === 'r1')).toMatchObject({
      mode: 'reverse',
      ready: true,
    });
    expect(await queueIds(b.url)).toEqual(['r1']);
    const a = await allocate(b.url, 'rev-conf');
    expect(a.containerId).toBe('r1');
    expect(a.allocation.rtp.port).toBeGreaterThan(0);
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${b.url}/svc/mixer/v1/stats`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { id: string; conferences: number }).id).toBe('r1');
    }
    await r.proc.kill9();
    await waitFor('r1 dropped', async () => !(await queueIds(b.url)).includes('r1'), { timeoutMs: 20_000 });
  }, 120_000);
});
