/**
 * What a placement costs, in figures that do not depend on how loaded the machine is: CPU time of the Redis
 * server(s) (`INFO cpu`), Redis's own time per command and per script (`INFO commandstats`, and `SLOWLOG` with a
 * threshold of 0, whose entries name a script by its SHA1: mapped back to the schedule store's script names), and
 * CPU time of the scheduler processes (`/proc/<pid>/stat`). A CPU-time figure on a shared machine still includes
 * cache and frequency effects, but not the time a process waited for a core, which is what wall-clock rates lose.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { Redis as RedisClient, type Cluster, type Redis } from 'ioredis';
import { SCHEDULE_SCRIPTS } from '@switchyard/global-scheduler';

const TICKS_PER_S = 100; // Linux USER_HZ: /proc/<pid>/stat counts utime and stime in these

/** CPU time (user + system) of a process, µs; resolution 10 ms (USER_HZ). */
export function processCpuUs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // the command name (field 2) may contain spaces: count fields after its closing parenthesis
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return ((utime + stime) / TICKS_PER_S) * 1e6;
}

const scriptNames = new Map(
  Object.entries(SCHEDULE_SCRIPTS).map(([name, body]) => [
    createHash('sha1').update(body).digest('hex'),
    name,
  ]),
);

/**
 * The Redis nodes that do the work (the server, or the masters of a cluster), each on a connection of its own: a
 * cluster client's node connections may be replaced by its slot refresh while a window is open.
 */
function nodesOf(client: Redis | Cluster): Redis[] {
  if (!('nodes' in client && typeof client.nodes === 'function')) return [(client as Redis).duplicate()];
  return client
    .nodes('master')
    .map((n) => new RedisClient(Number(n.options.port), n.options.host ?? '127.0.0.1'));
}

function infoField(info: string, name: string): number {
  const m = new RegExp(`^${name}:(\\S+)`, 'm').exec(info);
  return m ? Number(m[1]) : 0;
}

/** Per command (or script) name: calls and Redis's own µs. */
export type CostTable = Record<string, { calls: number; us: number }>;

export interface RedisCost {
  /** CPU µs of the Redis server processes (user + system, all threads) over the window. */
  cpuUs: number;
  /** `INFO commandstats`: commands called directly and from scripts (a script's inner calls count in both). */
  commands: CostTable;
  /**
   * `SLOWLOG` (threshold 0): calls by name, scripts by their name in the schedule store (Redis 7 also logs the
   * commands a script calls); durations are wall time inside Redis, inflated by preemption on a loaded machine.
   */
  topLevel: CostTable;
  /** Top-level entries the slow log dropped (its length is bounded): 0 when the table is complete. */
  slowlogDropped: number;
}

/**
 * Starts a measurement window on every node: resets the command statistics and (with `slowlog`) the slow log
 * (threshold 0, so it records every command with its duration), and reads the CPU counters. `end()` reads
 * everything back and restores the slow-log settings. The slow log is not free: Redis copies every command's
 * arguments into it, script-inner commands included (Redis 7), which roughly doubled a feed write's Redis CPU in
 * an A/B (WRITE_MANY with 7 inner commands per record: 16 → 35 µs per record); so a throughput run leaves it off.
 */
export async function startRedisCost(
  client: Redis | Cluster,
  { slowlog = true, maxEntries = 100_000 }: { slowlog?: boolean; maxEntries?: number } = {},
): Promise<{ end(): Promise<RedisCost> }> {
  const nodes = nodesOf(client);
  const before = await Promise.all(
    nodes.map(async (n) => {
      const [, slower] = (await n.config('GET', 'slowlog-log-slower-than')) as [string, string];
      const [, len] = (await n.config('GET', 'slowlog-max-len')) as [string, string];
      if (slowlog) {
        await n.config('SET', 'slowlog-max-len', String(maxEntries));
        await n.config('SET', 'slowlog-log-slower-than', '0');
      }
      await n.call('SLOWLOG', 'RESET');
      await n.call('CONFIG', 'RESETSTAT');
      const cpu = await n.info('cpu');
      return {
        slower,
        len,
        cpuUs: (infoField(cpu, 'used_cpu_sys') + infoField(cpu, 'used_cpu_user')) * 1e6,
      };
    }),
  );
  return {
    async end(): Promise<RedisCost> {
      const out: RedisCost = { cpuUs: 0, commands: {}, topLevel: {}, slowlogDropped: 0 };
      await Promise.all(
        nodes.map(async (n, i) => {
          const cpu = await n.info('cpu');
          const stats = await n.info('commandstats');
          const log = slowlog ? ((await n.call('SLOWLOG', 'GET', String(maxEntries))) as unknown[][]) : [];
          const total = Number(await n.call('SLOWLOG', 'LEN'));
          await n.config('SET', 'slowlog-log-slower-than', before[i]!.slower);
          await n.config('SET', 'slowlog-max-len', before[i]!.len);
          out.cpuUs +=
            (infoField(cpu, 'used_cpu_sys') + infoField(cpu, 'used_cpu_user')) * 1e6 - before[i]!.cpuUs;
          for (const m of stats.matchAll(/^cmdstat_(\S+?):calls=(\d+),usec=(\d+)/gm)) {
            const row = (out.commands[m[1]!] ??= { calls: 0, us: 0 });
            row.calls += Number(m[2]);
            row.us += Number(m[3]);
          }
          for (const entry of log) {
            const us = Number(entry[2]);
            const argv = (entry[3] as unknown[]).map(String);
            const name = topLevelName(argv);
            const row = (out.topLevel[name] ??= { calls: 0, us: 0 });
            row.calls++;
            row.us += us;
          }
          // the slow log keeps the newest maxEntries; LEN equal to the cap means older ones may have gone
          if (total >= maxEntries) out.slowlogDropped += 1;
        }),
      );
      for (const n of nodes) n.disconnect();
      return out;
    },
  };
}

/** A slow-log entry's name: the command, or for EVALSHA the schedule store's script name (or the key's service). */
function topLevelName(argv: string[]): string {
  const cmd = (argv[0] ?? '?').toLowerCase();
  if (cmd !== 'evalsha' && cmd !== 'eval') return cmd;
  const sha =
    cmd === 'eval'
      ? createHash('sha1')
          .update(argv[1] ?? '')
          .digest('hex')
      : (argv[1] ?? '');
  const known = scriptNames.get(sha);
  if (known) return `script ${known}`;
  // the registry's scripts: name them by the service hash tag of their first key
  const tag = /\{([^}]*)\}/.exec(argv[3] ?? '')?.[1];
  return `registry script ${tag ? `{${tag}}` : sha.slice(0, 8)}`;
}

/** One step of a placement, measured alone: CPU µs per placement in Redis and in the calling Node process. */
export interface StepCost {
  step: string;
  calls: number;
  redisCpuUsPerPlacement: number;
  nodeCpuUsPerPlacement: number;
}

/** Redis server CPU µs so far (user + system), summed over the nodes. */
export async function redisCpuUs(client: Redis | Cluster): Promise<number> {
  let sum = 0;
  for (const n of nodesOf(client)) {
    const cpu = await n.info('cpu');
    sum += (infoField(cpu, 'used_cpu_sys') + infoField(cpu, 'used_cpu_user')) * 1e6;
    n.disconnect();
  }
  return sum;
}

/**
 * Runs `work` and returns the CPU it cost Redis and this process, per placement. Nothing else may use this Redis
 * meanwhile (the caller's own Redis), and this process should be doing nothing else.
 */
export async function measureStep(
  client: Redis | Cluster,
  step: string,
  placements: number,
  work: () => Promise<number>,
): Promise<StepCost> {
  const r0 = await redisCpuUs(client);
  const n0 = process.cpuUsage();
  const calls = await work();
  const n1 = process.cpuUsage(n0);
  const r1 = await redisCpuUs(client);
  return {
    step,
    calls,
    redisCpuUsPerPlacement: Number(((r1 - r0) / placements).toFixed(2)),
    nodeCpuUsPerPlacement: Number(((n1.user + n1.system) / placements).toFixed(2)),
  };
}
