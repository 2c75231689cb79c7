/**
 * Real processes for the scheduler cluster tests: scheduler processes (apps/global-scheduler/dist/main.js), fleet
 * simulator processes (dist/main.js), a persistent redis-server (AOF, so it can be restarted with its data), and
 * checks of the invariants through the schedulers' HTTP API.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { freePort, redisServerPath, spawnProcess, waitFor, type Spawned } from '@switchyard/testing';

const root = path.resolve(import.meta.dirname, '../../..');
export const SCHEDULER_MAIN = path.join(root, 'apps/global-scheduler/dist/main.js');
export const FLEET_MAIN = path.join(root, 'tools/fleet-sim/dist/main.js');
export const TOKEN = 'cluster-test-token';

/** Timers of the cluster under test (ms). The probe timeout is generous: on a 2-core machine shared with other
 * suites a healthy agent can take 100+ ms to answer. */
export const T = {
  round: 200,
  lease: 1500,
  claimLease: 2000,
  probe: 250,
  misses: 3,
  probeTimeout: 400,
  agentTtl: 1500,
};

export interface PersistentRedis {
  port: number;
  url: string;
  kill9(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.setTimeout(500, () => (s.destroy(), resolve(false)));
    s.on('error', () => resolve(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => (s.destroy(), resolve(d.toString().startsWith('+PONG'))));
  });
}

/** A redis-server with AOF (fsync always): a kill -9 and restart keeps its data, as a production Redis would. */
export async function startPersistentRedis(): Promise<PersistentRedis> {
  const port = await freePort();
  // the AOF lives in tmpfs when there is one: a killed redis-server keeps its data, and fsync costs nothing
  // (on a disk shared with other test suites, fsync-always makes every write wait on the disk)
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dir = fs.mkdtempSync(path.join(base, 'sy-sched-redis-'));
  let proc: Spawned | undefined;
  const start = async () => {
    proc = spawnProcess(redisServerPath(), [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--dir',
      dir,
      '--notify-keyspace-events',
      'Ex',
      '--protected-mode',
      'no',
      '--loglevel',
      'warning',
    ]);
    await waitFor(`redis-server on ${port}`, () => ping(port), { timeoutMs: 10_000 });
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill9: async () => proc?.kill9(),
    start,
    stop: async () => {
      await proc?.stop(3000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface SchedulerProc {
  id: string;
  url: string;
  proc: Spawned;
}

export async function startScheduler(
  redisUrl: string,
  prefix: string,
  id: string,
  extra: string[] = [],
): Promise<SchedulerProc> {
  const proc = spawnProcess(
    process.execPath,
    [
      SCHEDULER_MAIN,
      '--id',
      id,
      '--port',
      '0',
      '--redis',
      redisUrl,
      '--prefix',
      prefix,
      '--token',
      TOKEN,
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
    { env: { ...process.env, LOG_LEVEL: 'debug' } },
  );
  const line = await waitFor(
    `scheduler ${id} ready (output: ${proc.output().slice(-400)})`,
    () =>
      proc
        .output()
        .split('\n')
        .find((l) => l.includes('"scheduler":"ready"')),
    { timeoutMs: 15_000 },
  );
  return { id, url: (JSON.parse(line) as { url: string }).url, proc };
}

export async function startFleet(
  redisUrl: string,
  prefix: string,
  count: number,
  capacity: number,
  idPrefix = 'srv-',
): Promise<Spawned> {
  const proc = spawnProcess(process.execPath, [
    FLEET_MAIN,
    '--redis',
    redisUrl,
    '--prefix',
    prefix,
    '--count',
    String(count),
    '--capacity',
    String(capacity),
    '--id-prefix',
    idPrefix,
    '--ttl-ms',
    String(T.agentTtl),
    '--heartbeat-ms',
    '300',
  ]);
  await waitFor(
    `fleet ${idPrefix} ready (output: ${proc.output().slice(-400)})`,
    () => proc.output().includes('"fleet":"ready"'),
    { timeoutMs: 20_000 },
  );
  return proc;
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
