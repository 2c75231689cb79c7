/**
 * Child processes for tests, benchmarks and tools, stopped by pid: SIGTERM, then SIGKILL after a grace period.
 * Never by name.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { LaunchError } from './errors.js';
import { outputSaysAddressInUse } from './ports.js';
import { waitFor } from './wait.js';

export type SpawnProcessOptions = SpawnOptions;

export interface Spawned {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (or signal) once the process has ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
  kill9(): Promise<void>;
}

const live = new Set<Spawned>();

export function spawnProcess(command: string, args: string[], options: SpawnProcessOptions = {}): Spawned {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  const chunks: string[] = [];
  let size = 0;
  const keep = (b: Buffer) => {
    // keep the last ~1 MiB so a chatty process cannot exhaust memory in a long test
    chunks.push(b.toString());
    size += b.length;
    while (size > 1 << 20 && chunks.length > 1) size -= chunks.shift()!.length;
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const pid = child.pid;
  const handle: Spawned = {
    child,
    pid,
    output: () => chunks.join(''),
    exited,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
      live.delete(handle);
    },
    async kill9() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
      live.delete(handle);
    },
  };
  live.add(handle);
  void exited.then(() => live.delete(handle));
  return handle;
}

/**
 * Waits (bounded polling) until `check` returns a value, failing early when the process exits: with
 * `LNC_ERR_PORT_IN_USE` when its output says the port was taken (so {@link onFreePort} can retry), else
 * `LNC_ERR_NOT_READY` with the tail of its output.
 */
export async function untilReady<T>(
  proc: Spawned,
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  { timeoutMs = 20_000, intervalMs = 25 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  let exited = false;
  void proc.exited.then(() => (exited = true));
  try {
    return await waitFor(
      what,
      async () => {
        if (exited || proc.child.exitCode !== null || proc.child.signalCode !== null) {
          const out = proc.output();
          const code = outputSaysAddressInUse(out) ? 'LNC_ERR_PORT_IN_USE' : 'LNC_ERR_NOT_READY';
          throw new LaunchError(code, `${what}: the process exited; output: ${out.slice(-1500)}`);
        }
        return check();
      },
      { timeoutMs, intervalMs, rethrow: (err) => err instanceof LaunchError },
    );
  } catch (err) {
    if (err instanceof LaunchError) throw err;
    throw new LaunchError(
      'LNC_ERR_NOT_READY',
      `${(err as Error).message}; output: ${proc.output().slice(-1500)}`,
      {
        cause: err,
      },
    );
  }
}

/** Stops every process this module started that is still running (for afterAll hooks). */
export async function stopAllSpawned(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop(2000)));
}

process.once('exit', () => {
  for (const p of live) p.child.kill('SIGKILL');
});
