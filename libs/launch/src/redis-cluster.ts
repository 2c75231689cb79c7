/**
 * Real Redis topologies for slow tests and benchmarks, every process on loopback, stopped by pid (moved here from
 * @switchyard/testing so that tools/bench can start a cluster; @switchyard/testing re-exports it unchanged):
 * - {@link startRedisCluster}: N masters + N replicas (`redis-server --cluster-enabled yes`, joined by
 *   `redis-cli --cluster create … --cluster-replicas 1 --cluster-yes`), ready when every node says `cluster_state:ok`.
 * - {@link startRedisSentinel}: a master, a replica and 3 sentinels (`redis-server --sentinel`) watching it.
 * Nodes can be killed (`kill -9`) one by one to test failover.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { freePort, pickablePorts } from './ports.js';
import { spawnProcess, type Spawned } from './processes.js';
import { redisServerArgs, redisServerPath } from './redis-server.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

export interface RedisNode {
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  kill9(): Promise<void>;
}

export interface TestRedisCluster {
  readonly host: string;
  readonly nodes: readonly RedisNode[];
  /** `host:port` of every node (seeds for ioredis `Cluster`). */
  readonly seeds: readonly { host: string; port: number }[];
  /** The node currently serving `key`'s slot as master (asks the cluster). */
  masterOf(key: string): Promise<RedisNode>;
  stop(): Promise<void>;
}

export async function redisCli(port: number, host: string, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', host, '-p', String(port), ...args], { timeout: 30_000 });
  return stdout;
}

function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/**
 * A port p free on `host` whose cluster bus port p + 10000 is free too, the bus port preferably below the ephemeral
 * range as well (see `freePort`), for the first half of the attempts.
 */
async function freeClusterPort(host: string): Promise<number> {
  const highest = pickablePorts()?.[1] ?? 65535;
  for (let i = 0; i < 50; i++) {
    const p = await freePort(host);
    if (i < 25 && p + 10000 > highest) continue;
    if (p + 10000 <= 65535 && (await canListen(host, p + 10000))) return p;
  }
  throw new Error(`no port pair (p, p + 10000) free on ${host}`);
}

function launchNode(host: string, port: number, dir: string, extra: string[]): Spawned {
  return spawnProcess(redisServerPath(), redisServerArgs(host, port, dir, extra));
}

function node(host: string, port: number, proc: Spawned): RedisNode {
  return { host, port, pid: proc.pid, kill9: () => proc.kill9() };
}

/** Starts `masters` masters with one replica each on `host` and joins them into a cluster. */
export async function startRedisCluster(
  opts: { host?: string; masters?: number } = {},
): Promise<TestRedisCluster> {
  const host = opts.host ?? '127.0.0.1';
  const n = (opts.masters ?? 3) * 2;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-redis-cluster-'));
  const procs: Spawned[] = [];
  const nodes: RedisNode[] = [];
  const stop = async () => {
    await Promise.all(procs.map((p) => p.stop(3000)));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < n; i++) {
      const port = await freeClusterPort(host);
      const nodeDir = path.join(dir, String(port));
      fs.mkdirSync(nodeDir);
      const p = launchNode(host, port, nodeDir, [
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--cluster-node-timeout',
        '1000',
        // a replica always stands for election when its master dies, however long ago it last heard from it
        // (the default factor 10 lets a replica whose link was down > 10 × node-timeout refuse, leaving the slots
        // with no master)
        '--cluster-replica-validity-factor',
        '0',
        '--notify-keyspace-events',
        'Ex',
      ]);
      procs.push(p);
      nodes.push(node(host, port, p));
      await waitFor(`cluster node ${host}:${port} (${p.output().slice(-300)})`, async () =>
        (await redisCli(port, host, 'ping').catch(() => '')).trim() === 'PONG' ? true : undefined,
      );
    }
    await run(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...nodes.map((x) => `${host}:${x.port}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ],
      { timeout: 60_000 },
    );
    for (const x of nodes)
      await waitFor(
        `cluster_state:ok on ${host}:${x.port}`,
        async () =>
          (await redisCli(x.port, host, 'cluster', 'info')).includes('cluster_state:ok') ? true : undefined,
        { timeoutMs: 30_000, intervalMs: 100 },
      );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    host,
    nodes,
    seeds: nodes.map((x) => ({ host, port: x.port })),
    async masterOf(key: string) {
      for (const x of nodes) {
        const slot = (await redisCli(x.port, host, 'cluster', 'keyslot', key).catch(() => '')).trim();
        if (!slot) continue;
        const shards = await redisCli(x.port, host, 'cluster', 'slots').catch(() => '');
        // redis-cli prints CLUSTER SLOTS as lines: start, end, then per node ip, port, id …; the master comes first
        const lines = shards.split('\n').map((l) => l.trim());
        for (let i = 0; i + 3 < lines.length; i++) {
          const start = Number(lines[i]);
          const end = Number(lines[i + 1]);
          if (/^\d+$/.test(lines[i]!) && /^\d+$/.test(lines[i + 1]!) && lines[i + 2] === host) {
            if (Number(slot) >= start && Number(slot) <= end) {
              const port = Number(lines[i + 3]);
              const m = nodes.find((y) => y.port === port);
              if (m) return m;
            }
          }
        }
      }
      throw new Error(`no master found for ${key}`);
    },
    stop,
  };
}

export interface TestRedisSentinel {
  readonly host: string;
  readonly name: string;
  readonly master: RedisNode;
  readonly replica: RedisNode;
  readonly sentinels: readonly { host: string; port: number }[];
  /** The master's port as the sentinels see it now. */
  currentMasterPort(): Promise<number>;
  stop(): Promise<void>;
}

/** A master, one replica and 3 sentinels (quorum 2) on `host`; failover after `downAfterMs` of silence. */
export async function startRedisSentinel(
  opts: { host?: string; name?: string; downAfterMs?: number } = {},
): Promise<TestRedisSentinel> {
  const host = opts.host ?? '127.0.0.1';
  const name = opts.name ?? 'symaster';
  const downAfter = opts.downAfterMs ?? 1000;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-redis-sentinel-'));
  const procs: Spawned[] = [];
  const stop = async () => {
    await Promise.all(procs.map((p) => p.stop(3000)));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const ready = async (port: number) =>
    waitFor(`redis on ${host}:${port}`, async () =>
      (await redisCli(port, host, 'ping').catch(() => '')).trim() === 'PONG' ? true : undefined,
    );
  try {
    const mPort = await freePort(host);
    const m = launchNode(host, mPort, fs.mkdtempSync(path.join(dir, 'm-')), [
      '--notify-keyspace-events',
      'Ex',
    ]);
    procs.push(m);
    await ready(mPort);
    const rPort = await freePort(host);
    const r = launchNode(host, rPort, fs.mkdtempSync(path.join(dir, 'r-')), [
      '--replicaof',
      host,
      String(mPort),
      '--notify-keyspace-events',
      'Ex',
    ]);
    procs.push(r);
    await ready(rPort);
    const sentinels: { host: string; port: number }[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort(host);
      const conf = path.join(dir, `sentinel-${port}.conf`);
      fs.writeFileSync(
        conf,
        [
          `port ${port}`,
          `bind ${host}`,
          'protected-mode no',
          `dir ${dir}`,
          `sentinel monitor ${name} ${host} ${mPort} 2`,
          `sentinel down-after-milliseconds ${name} ${downAfter}`,
          `sentinel failover-timeout ${name} ${downAfter * 3}`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      const s = spawnProcess(redisServerPath(), [conf, '--sentinel']);
      procs.push(s);
      sentinels.push({ host, port });
      await ready(port);
    }
    await waitFor(
      'the replica in sync with the master',
      async () =>
        (await redisCli(rPort, host, 'info', 'replication')).includes('master_link_status:up')
          ? true
          : undefined,
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    return {
      host,
      name,
      master: node(host, mPort, m),
      replica: node(host, rPort, r),
      sentinels,
      async currentMasterPort() {
        const out = await redisCli(sentinels[0]!.port, host, 'sentinel', 'get-master-addr-by-name', name);
        return Number(out.trim().split('\n')[1]);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
