/**
 * A primary that dies leaves no worker behind (issue 9): each worker exits when its IPC channel to the primary
 * closes, whether the primary dies while its workers are still starting or after they are all up. Checked by pid
 * in /proc: every worker pid ends (or is a zombie nobody reaps, which no longer runs).
 */
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, spawnProcess, waitFor, type Spawned } from '@switchyard/testing';
import { DISPATCHER_MAIN, startDispatcher, type RunningDispatcher } from './harness.js';

/** Pids whose parent is `ppid`, from /proc/<pid>/stat (field 4). */
function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat && stat.ppid === ppid) out.push(Number(name));
  }
  return out;
}

function readStat(pid: number): { state: string; ppid: number } | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name may contain spaces and parentheses: the fields start after the last ')'
    const fields = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, ppid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

/** Gone, or a zombie (exited; the init of this machine may not reap orphans). */
function running(pid: number): boolean {
  const s = readStat(pid);
  return s !== undefined && s.state !== 'Z' && s.state !== 'X';
}

async function allExit(pids: number[], what: string): Promise<void> {
  await waitFor(
    `${what}: workers ${pids.join(', ')} exited (still running: ${pids.filter(running).join(', ')})`,
    () => pids.every((p) => !running(p)),
    { timeoutMs: 30_000, intervalMs: 50 },
  );
}

describe('the primary dies: its workers exit', () => {
  let started: Spawned | undefined;
  let d: RunningDispatcher | undefined;
  let workers: number[] = [];
  afterEach(async () => {
    await started?.stop(2000);
    await d?.stop();
    // never leave a worker behind, whatever the test's outcome (by pid)
    for (const p of workers.filter(running)) process.kill(p, 'SIGKILL');
    started = d = undefined;
    workers = [];
  });

  it('after start: kill -9 of the primary ends every worker', async () => {
    d = await startDispatcher({ minWorkers: 2, maxWorkers: 2 });
    workers = (await d.workers()).map((w) => w.pid);
    expect(workers).toHaveLength(3); // two workers and the hot spare
    expect(workers.every(running)).toBe(true);
    await d.proc.kill9();
    await allExit(workers, 'after start');
  }, 150_000);

  it('during start: kill -9 of the primary as soon as it has forked ends the workers it forked', async () => {
    const proc = spawnProcess(
      process.execPath,
      [
        DISPATCHER_MAIN,
        '--listen',
        `127.0.0.1:${await freePort()}`,
        '--control-port',
        String(await freePort()),
        '--min-workers',
        '2',
        '--worker-start-timeout-ms',
        '60000',
      ],
      { env: { ...process.env, LOG_LEVEL: 'warn' } },
    );
    started = proc;
    // the first worker forked, before it can be ready (its start takes far longer than this poll)
    workers = await waitFor(
      'the primary forked a worker',
      () => {
        const c = childrenOf(proc.pid);
        return c.length > 0 && c;
      },
      { timeoutMs: 30_000, intervalMs: 2 },
    );
    await proc.kill9();
    // a fork may have been under way at the kill
    workers = [...new Set([...workers, ...childrenOf(proc.pid)])];
    await allExit(workers, 'during start');
  }, 150_000);
});
