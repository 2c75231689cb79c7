/**
 * Real processes for the scheduler cluster tests: scheduler and fleet-sim processes (started through their
 * packages' bins by this package's `startSchedulerProcess` / `startFleetProcess`), a persistent redis-server (AOF,
 * so it can be restarted with its data), and checks of the invariants through the schedulers' HTTP API.
 */
import { startRedisServer, type RedisServer, type Spawned } from '@switchyard/testing';
import { startFleetProcess, startSchedulerProcess, type SchedulerProcess } from '../src/index.js';

export const TOKEN = 'cluster-test-token';

/**
 * Timers of the cluster under test (ms). The probe timeout and misses are generous: on a 2-core machine shared with
 * other suites a healthy agent can take a second to answer, and a healthy server marked down by a starved probe
 * would move its conferences for nothing (400 ms made the kill test flaky under load). The tests assert no
 * duration, so a slower detection costs only test time.
 */
export const T = {
  round: 200,
  lease: 1500,
  claimLease: 2000,
  probe: 500,
  misses: 3,
  probeTimeout: 2000,
  agentTtl: 1500,
};

/** A redis-server with AOF (fsync always): a kill -9 and restart keeps its data, as a production Redis would. */
export function startPersistentRedis(): Promise<RedisServer> {
  // restarted mid-test with every earlier test's data in its append-only file: replaying it on a loaded 2-core
  // machine can take longer than the default 10 s (a bound for failure only)
  return startRedisServer({ persistence: 'aof', readyTimeoutMs: 60_000 });
}

export type SchedulerProc = SchedulerProcess;

export function startScheduler(
  redisUrl: string,
  prefix: string,
  id: string,
  extra: string[] = [],
): Promise<SchedulerProc> {
  return startSchedulerProcess({
    id,
    redisUrl,
    prefix,
    token: TOKEN,
    logLevel: 'debug',
    // a bound for failure only: on a 2-core machine shared with other suites a start can take 15+ s
    readyTimeoutMs: 60_000,
    args: [
      '--round-interval-ms',
      String(T.round),
      '--lease-ttl-ms',
      String(T.lease),
      '--claim-lease-ms',
      String(T.claimLease),
      '--probe-interval-ms',
      String(T.probe),
      '--misses',
      String(T.misses),
      '--probe-timeout-ms',
      String(T.probeTimeout),
      ...extra,
    ],
  });
}

export function startFleet(
  redisUrl: string,
  prefix: string,
  count: number,
  capacity: number,
  idPrefix = 'srv-',
): Promise<Spawned> {
  return startFleetProcess({
    redisUrl,
    prefix,
    count,
    capacity,
    logLevel: 'info',
    readyTimeoutMs: 60_000,
    args: ['--id-prefix', idPrefix, '--ttl-ms', String(T.agentTtl), '--heartbeat-ms', '300'],
  });
}

export interface ConferenceOut {
  id: string;
  expectedParticipants: number;
  state: string;
  claimedBy?: string;
  assignment?: { serverId: string; epoch: number; moves: number; placedAt: number };
}

export interface ServerOut {
  id: string;
  capacity: number;
  reserved: number;
  conferences: number;
  markedDown: boolean;
  live: boolean;
}

export async function api<T>(url: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** Creates `ids` through the schedulers' APIs, round-robin, `concurrency` at a time. Each must answer 201. */
export async function createConferences(
  urls: string[],
  ids: string[],
  participants: (i: number) => number,
  concurrency = 16,
  startAt?: number,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= ids.length) return;
      const r = await fetch(`${urls[i % urls.length]}/v1/conferences`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id: ids[i], expectedParticipants: participants(i), startAt }),
      });
      if (r.status !== 201) throw new Error(`create ${ids[i]}: HTTP ${r.status} ${await r.text()}`);
      await r.arrayBuffer().catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

export async function listAll(url: string): Promise<ConferenceOut[]> {
  const out: ConferenceOut[] = [];
  let cursor: string | undefined;
  for (;;) {
    const r = await api<{ items: ConferenceOut[]; next?: string }>(
      `${url}/v1/conferences?limit=1000${cursor ? `&cursor=${cursor}` : ''}`,
    );
    if (r.status !== 200) throw new Error(`list: HTTP ${r.status}`);
    out.push(...r.body.items);
    if (!r.body.next) return out;
    cursor = r.body.next;
  }
}

export async function servers(url: string): Promise<ServerOut[]> {
  const r = await api<ServerOut[]>(`${url}/v1/servers`);
  if (r.status !== 200) throw new Error(`servers: HTTP ${r.status}`);
  return r.body;
}

export async function placedCount(url: string): Promise<number> {
  return (await servers(url)).reduce((a, s) => a + s.conferences, 0);
}

/** Every share report logged by a scheduler process ('round' lines). */
export function roundReports(
  p: Spawned,
): { round: number; total: number; n: number; share: number; schedulerId: string; at: number }[] {
  const out = [];
  for (const line of p.output().split('\n')) {
    if (!line.includes('"msg":"round"')) continue;
    try {
      out.push(
        (
          JSON.parse(line) as {
            report: {
              round: number;
              total: number;
              n: number;
              share: number;
              schedulerId: string;
              at: number;
            };
          }
        ).report,
      );
    } catch {
      // a line cut by the output buffer's bound
    }
  }
  return out;
}

/**
 * The invariants: every conference of `ids` placed exactly once (one schedule entry, and the epoch counter shows no
 * placement beyond the final ones plus recorded moves), no server over capacity, reservations match placements.
 */
export async function checkInvariants(
  url: string,
  ids: string[],
  capacity: number,
): Promise<ConferenceOut[]> {
  const all = await listAll(url);
  const byId = new Map(all.map((c) => [c.id, c]));
  const missing = ids.filter((id) => byId.get(id)?.state !== 'placed');
  if (missing.length)
    throw new Error(`${missing.length} conferences not placed, e.g. ${missing.slice(0, 5).join(', ')}`);
  if (all.length !== ids.length) throw new Error(`expected ${ids.length} conferences, found ${all.length}`);
  const epochs = new Set(all.map((c) => c.assignment!.epoch));
  if (epochs.size !== all.length) throw new Error('two conferences share an epoch');
  const moves = all.reduce((a, c) => a + c.assignment!.moves, 0);
  const maxEpoch = Math.max(...epochs);
  // every successful placement takes one epoch: more epochs than placements + moves = something placed twice
  if (maxEpoch !== ids.length + moves)
    throw new Error(`max epoch ${maxEpoch} != ${ids.length} placements + ${moves} moves`);
  const load = new Map<string, number>();
  for (const c of all)
    load.set(c.assignment!.serverId, (load.get(c.assignment!.serverId) ?? 0) + c.expectedParticipants);
  for (const s of await servers(url)) {
    if (s.reserved > capacity)
      throw new Error(`server ${s.id} reserved ${s.reserved} > capacity ${capacity}`);
    if ((load.get(s.id) ?? 0) !== s.reserved)
      throw new Error(`server ${s.id}: reserved ${s.reserved} != placed ${load.get(s.id) ?? 0}`);
  }
  return all;
}

/**
 * What a failed wait prints, for a failure that does not reproduce at will: the fleets' lease warnings (an agent
 * starved past its TTL logs `lease lost`), and per scheduler what it can place on — the registry's servers
 * (`/v1/servers`: live, marked down), the servers in its own feed view (`scheduler_view_servers` of `/metrics`,
 * which placement chooses from), the unplaceable counts by reason with a few of them (attempts, next retry), and
 * its last log lines other than round reports. Never throws: a scheduler killed by the test answers nothing.
 */
export async function clusterDiagnostics(scheds: SchedulerProc[], fleets: Spawned[]): Promise<string> {
  const out: string[] = [];
  fleets.forEach((f, i) => {
    const lines = f.output().split('\n');
    const lost = lines.filter((l) => l.includes('lease lost') || l.includes('"agent lease"'));
    out.push(
      `fleet ${i}: ${lost.length} lease warnings${lost.length ? `, last: ${lost.slice(-3).join(' | ')}` : ''}`,
    );
  });
  for (const s of scheds) {
    try {
      const list = await servers(s.url);
      const live = list.filter((x) => x.live).length;
      const down = list.filter((x) => x.markedDown).map((x) => x.id);
      const metrics = await (await fetch(`${s.url}/metrics`)).text();
      const view = metrics
        .split('\n')
        .filter((l) => l.startsWith('scheduler_view_servers{'))
        .join(', ');
      const u = await api<{ counts: Record<string, number>; items: unknown[] }>(
        `${s.url}/v1/unplaceable?limit=3`,
      );
      out.push(
        `${s.id}: /v1/servers ${list.length} (${live} live, marked down: [${down.join(',')}]); view: ${view || '?'}; ` +
          `unplaceable ${JSON.stringify(u.body.counts)} e.g. ${JSON.stringify(u.body.items)}`,
      );
    } catch (err) {
      out.push(`${s.id}: API not answering (${(err as Error).message})`);
    }
    const tail = s.proc
      .output()
      .split('\n')
      .filter((l) => l && !l.includes('"msg":"round"'))
      .slice(-15);
    out.push(`${s.id} last lines:\n${tail.join('\n')}`);
  }
  return out.join('\n');
}
