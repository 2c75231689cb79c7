/** Starts the built dispatcher as a real process, for tests and benchmarks; stopped by pid. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, freeTcpUdpPort, spawnProcess, waitFor, type Spawned } from '@switchyard/testing';
import type { WorkerView } from '../src/index.js';

/** The built entry: `nx test` builds the project first. */
export const DISPATCHER_MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/main.js');

export interface RunningDispatcher {
  proc: Spawned;
  sipPort: number;
  target: string;
  control: string;
  token: string;
  workers(): Promise<WorkerView[]>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  post(pathname: string, auth?: boolean): Promise<{ status: number; body: unknown }>;
  stop(): Promise<void>;
}

export async function startDispatcher(
  opts: { minWorkers?: number; maxWorkers?: number; args?: string[] } = {},
): Promise<RunningDispatcher> {
  const sipPort = await freeTcpUdpPort();
  const controlPort = await freePort();
  const token = 'test-token';
  const min = opts.minWorkers ?? 2;
  const proc = spawnProcess(
    process.execPath,
    [
      DISPATCHER_MAIN,
      '--listen',
      `127.0.0.1:${sipPort}`,
      '--control-port',
      String(controlPort),
      '--control-token',
      token,
      '--min-workers',
      String(min),
      '--max-workers',
      String(opts.maxWorkers ?? Math.max(min, 4)),
      // short drains so that stopping a test dispatcher does not wait for abandoned dialogs
      '--drain-timeout-ms',
      '2000',
      // a machine shared with other test runs can take many seconds to fork and load a worker
      '--worker-start-timeout-ms',
      '60000',
      ...(opts.args ?? []),
    ],
    { env: { ...process.env, LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'warn' } },
  );
  const control = `http://127.0.0.1:${controlPort}`;
  await waitFor(
    `dispatcher on ${sipPort} healthy (output: ${proc.output().slice(-500)})`,
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`dispatcher exited: ${proc.output().slice(-2000)}`);
      const r = await fetch(`${control}/healthz`).catch(() => undefined);
      if (!r?.ok) return false;
      const h = (await r.json()) as { ready: number };
      return h.ready >= min;
    },
    { timeoutMs: 60_000, intervalMs: 50 },
  );
  return {
    proc,
    sipPort,
    target: `127.0.0.1:${sipPort}`,
    control,
    token,
    async workers() {
      const r = await fetch(`${control}/workers`);
      return ((await r.json()) as { workers: WorkerView[] }).workers;
    },
    async metric(name, labels = {}) {
      const text = await (await fetch(`${control}/metrics`)).text();
      let sum = 0;
      for (const line of text.split('\n')) {
        if (!line.startsWith(name)) continue;
        const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        if (Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`)))
          sum += Number(m[3]);
      }
      return sum;
    },
    async post(pathname, auth = true) {
      const r = await fetch(`${control}${pathname}`, {
        method: 'POST',
        headers: auth ? { authorization: `Bearer ${token}` } : {},
      });
      return { status: r.status, body: await r.json().catch(() => undefined) };
    },
    stop: () => proc.stop(8000),
  };
}
