/**
 * The scheduler cluster with real processes: 3 scheduler processes, simulated conference servers (fleet-sim
 * processes of real agents), one persistent redis-server. Waits poll the schedulers' API with bounded waitFor and
 * generous deadlines (a failure, not a speed, is what they catch); no test asserts a duration. How long a move or a
 * takeover takes is a benchmark figure (`node tools/bench/dist/main.js scheduler --mode failover`). The timeouts the
 * processes wait for (leases, probes) run on their own clocks; the in-process suite (apps/global-scheduler
 * scheduler-cluster.suite.ts) drives the same ones with a ManualClock.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stopAllSpawned, waitFor, type RedisServer, type Spawned } from '@switchyard/testing';
import {
  checkInvariants,
  clusterDiagnostics,
  createConferences,
  placedCount,
  roundReports,
  servers,
  startFleet as startFleetProcess,
  startPersistentRedis,
  startScheduler,
  api,
  listAll,
  type SchedulerProc,
} from './cluster-harness.js';

let redis: RedisServer;
beforeAll(async () => {
  redis = await startPersistentRedis();
});
afterAll(async () => {
  await stopAllSpawned();
  await redis?.stop();
});

/**
 * The processes a test started, stopped after it whatever its outcome: a test that failed must not leave its
 * schedulers and agents running to starve the next ones of CPU (they then could not even start).
 */
const running: Spawned[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop(2000)));
});

async function cluster(prefix: string, n: number, extra: string[] = []): Promise<SchedulerProc[]> {
  const out: SchedulerProc[] = [];
  for (let i = 0; i < n; i++) {
    const s = await startScheduler(redis.url, prefix, `${prefix}-s${i}`, extra);
    running.push(s.proc);
    out.push(s);
  }
  return out;
}

async function startFleet(...args: Parameters<typeof startFleetProcess>): Promise<Spawned> {
  const fleet = await startFleetProcess(...args);
  running.push(fleet);
  return fleet;
}

/** `wait`, and when it fails, the cluster's state printed first (see clusterDiagnostics). */
async function explained<T>(wait: Promise<T>, scheds: SchedulerProc[], fleets: Spawned[]): Promise<T> {
  try {
    return await wait;
  } catch (err) {
    console.log(await clusterDiagnostics(scheds, fleets));
    throw err;
  }
}

function checkShares(schedulers: SchedulerProc[]): number {
  const reports = schedulers.flatMap((s) => roundReports(s.proc));
  for (const r of reports) {
    // each share within 1 of total/N of its round
    if (Math.abs(r.share - r.total / r.n) >= 1)
      throw new Error(`share ${r.share} of ${r.total}/${r.n} in round ${r.round}`);
  }
  const byRound = new Map<number, typeof reports>();
  for (const r of reports) byRound.set(r.round, [...(byRound.get(r.round) ?? []), r]);
  for (const [round, rs] of byRound) {
    const sum = rs.reduce((a, r) => a + r.share, 0);
    // all members reported: shares sum to the round's total
    // the reports themselves in the message: which scheduler saw which total and members, and when
    if (rs.length === rs[0]!.n && sum !== rs[0]!.total)
      throw new Error(`round ${round}: shares sum ${sum} != ${rs[0]!.total}: ${JSON.stringify(rs)}`);
  }
  return reports.length;
}

describe('scheduler cluster, real processes', () => {
  // 2,000 (it was 10,000, then 4,000): creating them over HTTP dominates the test's time, and on the shared 2-core
  // machine 4,000 did not fit a 3-minute bound (CI failed on it once); the invariants do not depend on the count
  it('3 schedulers, 50 servers, 2,000 conferences: each placed exactly once, capacity kept, shares within 1 of total/N', async () => {
    const prefix = 'big';
    const fleet = await startFleet(redis.url, prefix, 50, 600);
    const scheds = await cluster(prefix, 3);
    const ids = Array.from({ length: 2000 }, (_, i) => `conf-${i}`);
    await createConferences(
      scheds.map((s) => s.url),
      ids,
      (i) => 1 + (i % 4),
    );
    await explained(
      waitFor('2,000 conferences placed', async () => (await placedCount(scheds[0]!.url)) === 2000, {
        timeoutMs: 150_000,
        intervalMs: 250,
      }),
      scheds,
      [fleet],
    );
    const all = await checkInvariants(scheds[0]!.url, ids, 600);
    expect(all).toHaveLength(2000);
    // least loaded first spreads them over the fleet (a server wrongly marked down by a probe starved of CPU
    // would have its conferences moved elsewhere: still correct, hence not "exactly 50")
    expect(new Set(all.map((c) => c.assignment!.serverId)).size).toBeGreaterThan(40);
    expect(checkShares(scheds)).toBeGreaterThan(0);
    // every scheduler took part
    for (const s of scheds) expect(roundReports(s.proc).some((r) => r.share > 0)).toBe(true);
    const sched = await api<{ id: string; lastShare?: { n: number } }[]>(`${scheds[0]!.url}/v1/schedulers`);
    expect(sched.body.map((s) => s.id)).toEqual(scheds.map((s) => s.id));
    await Promise.all([...scheds.map((s) => s.proc.stop()), fleet.stop()]);
  }, 300_000);

  it('kill -9 of a scheduler mid-round: nothing lost, nothing placed twice, its share taken within one lease', async () => {
    const prefix = 'k9s';
    const fleet = await startFleet(redis.url, prefix, 10, 1000);
    // all 1,000 fall due at once (window 0) and are placed one per PLACE call: each scheduler holds its share as
    // claims for a second or so, and the kill lands while the victim holds some
    const scheds = await cluster(prefix, 3, ['--place-batch', '1', '--window-ms', '0']);
    const ids = Array.from({ length: 1000 }, (_, i) => `k${i}`);
    const victim = scheds[2]!;
    // due once all are created, so that the victim holds a share of claims when it is killed: how long creating
    // takes depends on the machine's load, so it is estimated from 64 requests to the same API (3× margin, at
    // least 6 s, at most 90 s)
    const g0 = Date.now();
    await Promise.all(
      Array.from({ length: 64 }, (_, i) =>
        fetch(`${scheds[i % 2]!.url}/v1/conferences/probe-${i}`).then((r) => r.arrayBuffer()),
      ),
    );
    const estimateMs = ((Date.now() - g0) / 64) * ids.length * 3;
    // whole milliseconds: the API refuses a fractional startAt (an integer, issue 12)
    const dueAt = Date.now() + Math.ceil(Math.min(90_000, Math.max(6000, estimateMs)));
    await createConferences([scheds[0]!.url, scheds[1]!.url], ids, () => 2, 16, dueAt);
    // killed at the moment it is seen holding claims (a recount after the kill would race the survivors, which
    // take the claims back once their lease ran out)
    const seen = await waitFor(
      'the victim holding claims',
      async () => {
        const all = await listAll(scheds[0]!.url);
        const held = all.filter((c) => c.claimedBy === victim.id).length;
        if (held === 0) return undefined;
        await victim.proc.kill9();
        return { held, placed: all.filter((c) => c.state === 'placed').length };
      },
      { timeoutMs: Math.max(0, dueAt - Date.now()) + 60_000, intervalMs: 0 },
    );
    const placedBefore = seen.placed;
    const heldByVictim = seen.held;
    expect(heldByVictim).toBeGreaterThan(0);
    expect(placedBefore).toBeLessThan(1000);
    console.log(`killed ${victim.id} with ${placedBefore} of 1000 placed and ${heldByVictim} claims in hand`);
    // one PLACE call per conference (--place-batch 1): at load average 30 the 2,000 of an earlier version did not
    // finish in 60 s; the bounds here catch a conference lost, not a slow machine
    await waitFor(
      'all 1,000 placed after the kill',
      async () => (await placedCount(scheds[0]!.url)) === 1000,
      { timeoutMs: 150_000, intervalMs: 100 },
    ).catch(async (err) => {
      const all = await listAll(scheds[0]!.url);
      const st: Record<string, number> = {};
      for (const c of all) st[c.state] = (st[c.state] ?? 0) + 1;
      console.log(JSON.stringify(st), JSON.stringify(all.filter((c) => c.state !== 'placed').slice(0, 3)));
      console.log(await clusterDiagnostics(scheds.slice(0, 2), [fleet]));
      throw err;
    });
    await checkInvariants(scheds[0]!.url, ids, 1000);
    // the survivors stop counting the victim once its lease lapsed: both report rounds with N = 2
    for (const s of scheds.slice(0, 2))
      await waitFor(
        `${s.id} counts N = 2 after the kill`,
        () => roundReports(s.proc).some((r) => r.n === 2) || undefined,
        { timeoutMs: 60_000, intervalMs: 50 },
      );
    checkShares(scheds.slice(0, 2));
    const live = await api<{ id: string }[]>(`${scheds[0]!.url}/v1/schedulers`);
    expect(live.body.map((s) => s.id)).toEqual([scheds[0]!.id, scheds[1]!.id]);
    await Promise.all([...scheds.slice(0, 2).map((s) => s.proc.stop()), fleet.stop()]);
  }, 420_000);

  it('kill -9 of a conference server: all its conferences move within probe interval x misses plus one round', async () => {
    const prefix = 'k9a';
    const fleet = await startFleet(redis.url, prefix, 5, 400);
    const solo = await startFleet(redis.url, prefix, 1, 400, 'solo-');
    const scheds = await cluster(prefix, 3);
    const ids = Array.from({ length: 600 }, (_, i) => `a${i}`);
    await createConferences(
      scheds.map((s) => s.url),
      ids,
      () => 2,
    );
    await explained(
      waitFor('600 placed', async () => (await placedCount(scheds[0]!.url)) === 600, {
        timeoutMs: 120_000,
        intervalMs: 50,
      }),
      scheds,
      [fleet, solo],
    );
    const onSolo = (await listAll(scheds[0]!.url))
      .filter((c) => c.assignment?.serverId === 'solo-0')
      .map((c) => c.id);
    expect(onSolo.length).toBeGreaterThan(0);
    await solo.kill9();
    await waitFor(
      'conferences moved off solo-0',
      async () => {
        const s = await servers(scheds[0]!.url);
        const dead = s.find((x) => x.id === 'solo-0');
        return (!dead || dead.conferences === 0) && s.reduce((a, x) => a + x.conferences, 0) === 600;
      },
      { timeoutMs: 120_000, intervalMs: 50 },
    );
    const all = await checkInvariants(scheds[0]!.url, ids, 400);
    expect(all.filter((c) => c.assignment!.serverId === 'solo-0')).toEqual([]);
    // every conference that was on the killed server moved (at least once: a healthy agent starved of CPU may
    // miss its probes too, which moves its conferences as well and is still correct)
    const byId = new Map(all.map((c) => [c.id, c]));
    expect(onSolo.filter((id) => byId.get(id)!.assignment!.moves < 1)).toEqual([]);
    const dead = (await servers(scheds[0]!.url)).find((x) => x.id === 'solo-0');
    if (dead) expect(dead.markedDown).toBe(true);
    await Promise.all([...scheds.map((s) => s.proc.stop()), fleet.stop()]);
  }, 300_000);

  it('Redis restarted during a run: schedulers report it, recover, and the invariants hold', async () => {
    const prefix = 'rr';
    const fleet = await startFleet(redis.url, prefix, 10, 1000);
    const scheds = await cluster(prefix, 3);
    const first = Array.from({ length: 600 }, (_, i) => `r${i}`);
    await createConferences(
      scheds.map((s) => s.url),
      first,
      () => 3,
    );
    await waitFor('first 600 placed', async () => (await placedCount(scheds[0]!.url)) === 600, {
      timeoutMs: 120_000,
      intervalMs: 50,
    });
    await redis.kill();
    for (const s of scheds)
      await waitFor(
        `${s.id} reports Redis unreachable`,
        async () => (await fetch(`${s.url}/healthz`)).status === 503,
        { timeoutMs: 30_000, intervalMs: 50 },
      );
    const refused = await fetch(`${scheds[0]!.url}/v1/conferences`, {
      method: 'POST',
      headers: { authorization: 'Bearer cluster-test-token', 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'during', expectedParticipants: 1 }),
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).not.toBeNull();
    await redis.restart();
    for (const s of scheds)
      await waitFor(`${s.id} recovers`, async () => (await fetch(`${s.url}/healthz`)).status === 200, {
        timeoutMs: 120_000,
        intervalMs: 100,
      });
    const second = Array.from({ length: 300 }, (_, i) => `rr${i}`);
    await createConferences(
      scheds.map((s) => s.url),
      second,
      () => 3,
    );
    await explained(
      waitFor('all 900 placed', async () => (await placedCount(scheds[0]!.url)) === 900, {
        timeoutMs: 120_000,
        intervalMs: 50,
      }),
      scheds,
      [fleet],
    );
    await checkInvariants(scheds[0]!.url, [...first, ...second], 1000);
    for (const s of scheds) expect(s.proc.output()).toContain('store unavailable');
    await Promise.all([...scheds.map((s) => s.proc.stop()), fleet.stop()]);
  }, 300_000);
});
