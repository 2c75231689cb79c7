/**
 * tools/deploy/redis: real redis-server and sentinel processes booted from the configuration files operators
 * install (only the port, address, data directory, pid file and log file rewritten, and the sentinels' monitored
 * master moved to the test's loopback master), then real global-scheduler processes started with the documented
 * flags: `--redis-cluster` against the cluster, `--redis-sentinels`/`--redis-sentinel-name` against the sentinels.
 * Two schedulers see each other in the registry and one reads the conference the other created, and a POP host
 * agent started with the same flags is listed by a scheduler as a conference server: the schedule and the registry
 * live in the Redis the files describe. Every process is stopped by pid.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  freePort,
  redisCli,
  redisServerPath,
  spawnProcess,
  waitFor,
  type Spawned,
} from '@switchyard/testing';
import { DEPLOY, PROGRAMS, ROOT, mainOf } from './helpers/programs.js';

// this project's loopback addresses (a third octet of its own)
const HOST = '127.0.43.1';
const TOKEN = 'deploy-test-token-1234';
const procs: Spawned[] = [];
const dirs: string[] = [];

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop(3000)));
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function tmpDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** The installed file with its directives `rewrite` names replaced (each must exist in the file). */
function rewritten(file: string, rewrite: Record<string, string>, extra: string[] = []): string {
  let text = fs.readFileSync(path.join(DEPLOY, 'redis', file), 'utf8');
  for (const [directive, value] of Object.entries(rewrite)) {
    const re = new RegExp(`^${directive.replace(/ /g, '\\s+')}\\s.*$`, 'm');
    expect(re.test(text), `${file} has a "${directive}" line`).toBe(true);
    text = text.replace(re, `${directive} ${value}`);
  }
  return `${text}\n${extra.join('\n')}\n`;
}

/** A redis node on a free loopback port from `file` (sentinel: also the monitored master). */
async function boot(
  file: string,
  opts: { cluster?: boolean; sentinel?: boolean; extra?: string[]; rewrite?: Record<string, string> } = {},
): Promise<{ port: number; proc: Spawned }> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort(HOST);
    if (opts.cluster && port + 10000 > 65535) continue; // the cluster bus listens on port + 10000
    const dir = tmpDir('sy-deploy-redis-');
    const conf = path.join(dir, path.basename(file));
    fs.writeFileSync(
      conf,
      rewritten(
        file,
        {
          bind: HOST,
          port: String(port),
          dir,
          pidfile: path.join(dir, 'redis.pid'),
          logfile: '""',
          ...opts.rewrite,
        },
        opts.extra,
      ),
    );
    const proc = spawnProcess(redisServerPath(), opts.sentinel ? [conf, '--sentinel'] : [conf]);
    procs.push(proc);
    try {
      await waitFor(`${file} on ${HOST}:${port}`, async () => {
        const exited = await Promise.race([proc.exited, Promise.resolve(undefined)]);
        if (exited) throw new Error(`exited: ${proc.output().slice(-400)}`);
        return (await redisCli(port, HOST, 'ping').catch(() => '')).trim() === 'PONG' || undefined;
      });
      return { port, proc };
    } catch (err) {
      // a port taken between freePort and the bind: once more on another one
      if (attempt < 3 && /in use/i.test(proc.output())) continue;
      throw err;
    }
  }
}

const schedulerMain = path.join(ROOT, mainOf(PROGRAMS.find((p) => p.name === 'global-scheduler')!));

/** A real scheduler process with the given Redis flags; resolves with its API URL once it says ready. */
async function scheduler(id: string, redisArgs: string[]): Promise<string> {
  const dir = tmpDir('sy-deploy-sched-');
  const tokenFile = path.join(dir, 'token');
  fs.writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
  const p = spawnProcess(process.execPath, [
    schedulerMain,
    ...['--id', id, '--host', HOST, '--port', '0', '--token-file', tokenFile, '--prefix', 'deploy'],
    ...redisArgs,
  ]);
  procs.push(p);
  const line = await waitFor(
    `scheduler ${id} ready (${p.output().slice(-300)})`,
    () => p.output().match(/\{"scheduler":"ready".*\}/)?.[0],
    { timeoutMs: 60_000, intervalMs: 100 },
  );
  return (JSON.parse(line) as { url: string }).url;
}

const agentMain = path.join(ROOT, mainOf(PROGRAMS.find((p) => p.name === 'host-agent')!));

/**
 * A real POP host agent on the same Redis (flags as the scheduler's); resolves once a scheduler lists it as a
 * conference server: the agent's registration reached the registry through that Redis topology.
 */
async function agentSeenBy(schedulerUrl: string, id: string, redisArgs: string[]): Promise<void> {
  const sipPort = await freePort(HOST);
  const p = spawnProcess(process.execPath, [
    agentMain,
    ...['--id', id, '--sip', `${HOST}:${sipPort}`, '--prefix', 'deploy', '--region', 'default'],
    // no dispatcher or pop-router here: the agent only registers (its load reads fail and are logged)
    ...['--dispatcher-url', `http://${HOST}:1`],
    ...redisArgs,
  ]);
  procs.push(p);
  await waitFor(
    `scheduler to list the host agent ${id} (${p.output().slice(-300)})`,
    async () => {
      const r = await json<Array<{ id: string }>>(`${schedulerUrl}/v1/servers`);
      return r.body.some((s) => s.id === id) || undefined;
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
}

async function json<T>(url: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const r = await fetch(url, init);
  return { status: r.status, body: (await r.json()) as T };
}

/** Two schedulers on the same Redis: each lists both, and one reads what the other created. */
async function twoSchedulersShareRedis(a: string, b: string, conference: string): Promise<void> {
  for (const url of [a, b])
    await waitFor(
      `${url}/healthz: store up`,
      async () => (await json<{ store: string }>(`${url}/healthz`)).body.store === 'up' || undefined,
      { timeoutMs: 30_000, intervalMs: 100 },
    );
  await waitFor(
    'both schedulers registered (the registry lives in this Redis)',
    async () => {
      const r = await json<Array<{ id: string }>>(`${a}/v1/schedulers`);
      return r.body.length === 2 || undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
  const created = await json<{ id: string }>(`${a}/v1/conferences`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id: conference, expectedParticipants: 4 }),
  });
  expect(created.status).toBe(201);
  const read = await json<{ id: string }>(`${b}/v1/conferences/${conference}`);
  expect(read).toMatchObject({ status: 200, body: { id: conference } });
}

describe('tools/deploy/redis', () => {
  it('cluster/redis.conf: six nodes joined as documented; schedulers connect with --redis-cluster', async () => {
    const nodes: Array<{ port: number; proc: Spawned }> = [];
    // bound to one loopback address of several: announce it (the file's commented cluster-announce-ip)
    for (let i = 0; i < 6; i++)
      nodes.push(await boot('cluster/redis.conf', { cluster: true, extra: [`cluster-announce-ip ${HOST}`] }));
    // the file's own settings are in force (not redis defaults)
    for (const [k, v] of [
      ['cluster-enabled', 'yes'],
      ['appendonly', 'yes'],
      ['maxmemory-policy', 'noeviction'],
      ['cluster-node-timeout', '5000'],
      ['cluster-require-full-coverage', 'yes'],
    ] as const)
      expect((await redisCli(nodes[0]!.port, HOST, 'config', 'get', k)).trim().split('\n')[1], k).toBe(v);
    const seeds = nodes.map((n) => `${HOST}:${n.port}`);
    const create = spawnProcess('redis-cli', [
      '--cluster',
      'create',
      ...seeds,
      '--cluster-replicas',
      '1',
      '--cluster-yes',
    ]);
    procs.push(create);
    const done = await waitFor(
      `redis-cli --cluster create to finish (${create.output().slice(-300)})`,
      () => Promise.race([create.exited, Promise.resolve(undefined)]),
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    expect(done.code, create.output()).toBe(0);
    for (const n of nodes)
      await waitFor(
        `cluster_state:ok on ${n.port}`,
        async () =>
          (await redisCli(n.port, HOST, 'cluster', 'info')).includes('cluster_state:ok') || undefined,
        { timeoutMs: 30_000, intervalMs: 100 },
      );
    // the documented flag: a comma list of seed nodes (any subset will do; these are two of six)
    const a = await scheduler('deploy-cluster-1', ['--redis-cluster', seeds.slice(0, 2).join(',')]);
    const b = await scheduler('deploy-cluster-2', ['--redis-cluster', seeds.slice(3, 5).join(',')]);
    await twoSchedulersShareRedis(a, b, 'deploy-cluster-conf');
    // a POP host's agent registers through the cluster too (the same flag and env name)
    await agentSeenBy(b, 'deploy-cluster-host', ['--redis-cluster', seeds.slice(1, 3).join(',')]);
    // the keys were spread over the cluster's masters (hash tags keep each script on one slot, not one node)
    let masters = 0;
    for (const n of nodes) {
      const role = (await redisCli(n.port, HOST, 'role')).split('\n')[0]!.trim();
      if (role === 'master' && Number((await redisCli(n.port, HOST, 'dbsize')).trim()) > 0) masters++;
    }
    expect(masters).toBeGreaterThanOrEqual(1);
  }, 180_000);

  it('sentinel/redis.conf + sentinel.conf: schedulers connect with --redis-sentinels and --redis-sentinel-name', async () => {
    const master = await boot('sentinel/redis.conf');
    const replica = await boot('sentinel/redis.conf', { extra: [`replicaof ${HOST} ${master.port}`] });
    await waitFor(
      'the replica in sync',
      async () =>
        (await redisCli(replica.port, HOST, 'info', 'replication')).includes('master_link_status:up') ||
        undefined,
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    const conf = fs.readFileSync(path.join(DEPLOY, 'redis/sentinel/sentinel.conf'), 'utf8');
    const monitor = /^sentinel monitor (\S+) \S+ \d+ (\d+)$/m.exec(conf);
    expect(monitor, 'sentinel.conf has a "sentinel monitor" line').not.toBeNull();
    const [, name, quorum] = monitor!;
    const sentinels: Array<{ port: number; proc: Spawned }> = [];
    for (let i = 0; i < 3; i++)
      sentinels.push(
        await boot('sentinel/sentinel.conf', {
          sentinel: true,
          rewrite: { 'sentinel monitor': `${name} ${HOST} ${master.port} ${quorum}` },
        }),
      );
    await waitFor(
      'the sentinels to know the master and each other',
      async () => {
        const out = await redisCli(sentinels[0]!.port, HOST, 'sentinel', 'master', name!);
        const lines = out.split('\n').map((l) => l.trim());
        const other = Number(lines[lines.indexOf('num-other-sentinels') + 1]);
        return other === 2 || undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const flags = [
      '--redis-sentinels',
      sentinels.map((s) => `${HOST}:${s.port}`).join(','),
      '--redis-sentinel-name',
      name!,
    ];
    const a = await scheduler('deploy-sentinel-1', flags);
    const b = await scheduler('deploy-sentinel-2', flags);
    await twoSchedulersShareRedis(a, b, 'deploy-sentinel-conf');
    await agentSeenBy(a, 'deploy-sentinel-host', flags);
    // written to the master the sentinels name, and replicated
    expect(Number((await redisCli(master.port, HOST, 'dbsize')).trim())).toBeGreaterThan(0);
    // Replication is ordered: once a marker written after the schedulers' keys is on the replica, so is everything
    // before it. (Comparing the two DBSIZEs raced with the leases the schedulers keep writing and expiring: it failed
    // once in CI under load.)
    await redisCli(master.port, HOST, 'set', 'deploy-test:replicated', 'yes');
    await waitFor(
      'the replica to hold a marker written to the master after the schedulers wrote, and their keys',
      async () =>
        ((await redisCli(replica.port, HOST, 'get', 'deploy-test:replicated')).trim() === 'yes' &&
          Number((await redisCli(replica.port, HOST, 'dbsize')).trim()) > 1) ||
        undefined,
      { timeoutMs: 10_000, intervalMs: 100 },
    );
  }, 180_000);
});
