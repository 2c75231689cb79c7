/**
 * The scheduler cluster as real processes, the one starter for the fleet-sim's cluster tests and the scheduler
 * benchmark: scheduler processes and fleet-sim processes, each started through the `bin` its package declares and
 * stopped by pid. Each waits for the one JSON "ready" line the process prints.
 */
import { spawnBin, untilReady, type Spawned } from '@switchyard/launch';

export interface SchedulerProcessOptions {
  /** Scheduler id (`--id`). */
  id: string;
  redisUrl: string;
  /** Key prefix shared by the schedulers and fleets of one cluster (`--prefix`). */
  prefix: string;
  /** Bearer token of the scheduler's API (`--token`). */
  token: string;
  /** More flags (`--round-interval-ms 200` …). */
  args?: string[];
  /** LOG_LEVEL of the process (default `warn`). */
  logLevel?: string;
  /** Bound on the wait for the ready line, ms (default 20 000). */
  readyTimeoutMs?: number;
}

export interface SchedulerProcess {
  readonly id: string;
  /** Base URL of its HTTP API, read from its ready line (it listens on port 0). */
  readonly url: string;
  readonly proc: Spawned;
}

/**
 * Starts `global-scheduler` (the bin of @switchyard/global-scheduler) on port 0 and resolves with its URL once it
 * prints `{"scheduler":"ready",…}`.
 * @throws LaunchError `LNC_ERR_NOT_READY` when it exits or prints no ready line in time (with its output).
 */
export async function startSchedulerProcess(o: SchedulerProcessOptions): Promise<SchedulerProcess> {
  const proc = spawnBin(
    '@switchyard/global-scheduler',
    [
      '--id',
      o.id,
      '--port',
      '0',
      '--redis',
      o.redisUrl,
      '--prefix',
      o.prefix,
      '--token',
      o.token,
      ...(o.args ?? []),
    ],
    { env: { ...process.env, LOG_LEVEL: o.logLevel ?? 'warn' } },
  );
  try {
    const line = await untilReady(
      proc,
      `scheduler ${o.id} ready`,
      () => readyLine(proc, '"scheduler":"ready"'),
      {
        timeoutMs: o.readyTimeoutMs ?? 20_000,
      },
    );
    return { id: o.id, url: (JSON.parse(line) as { url: string }).url, proc };
  } catch (err) {
    await proc.stop(2000);
    throw err;
  }
}

export interface FleetProcessOptions {
  redisUrl: string;
  prefix: string;
  /** Number of simulated conference servers (`--count`). */
  count: number;
  /** Capacity of each (`--capacity`). */
  capacity: number;
  /** More flags (`--id-prefix srv-`, `--ttl-ms 1500` …). */
  args?: string[];
  logLevel?: string;
  readyTimeoutMs?: number;
}

/**
 * Starts `fleet-sim` (this package's bin) and resolves once it prints `{"fleet":"ready",…}`.
 * @throws LaunchError `LNC_ERR_NOT_READY` when it exits or prints no ready line in time (with its output).
 */
export async function startFleetProcess(o: FleetProcessOptions): Promise<Spawned> {
  const proc = spawnBin(
    '@switchyard/fleet-sim',
    [
      '--redis',
      o.redisUrl,
      '--prefix',
      o.prefix,
      '--count',
      String(o.count),
      '--capacity',
      String(o.capacity),
      ...(o.args ?? []),
    ],
    { env: { ...process.env, LOG_LEVEL: o.logLevel ?? 'warn' } },
  );
  try {
    await untilReady(proc, 'fleet ready', () => readyLine(proc, '"fleet":"ready"'), {
      timeoutMs: o.readyTimeoutMs ?? 30_000,
    });
    return proc;
  } catch (err) {
    await proc.stop(2000);
    throw err;
  }
}

function readyLine(proc: Spawned, marker: string): string | undefined {
  return proc
    .output()
    .split('\n')
    .find((l) => l.includes(marker));
}
