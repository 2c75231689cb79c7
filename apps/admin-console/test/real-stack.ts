/**
 * The real parts the console runs against in the browser tests: a private redis-server, two global-scheduler
 * processes (built dist), conference servers registered by @switchyard/server-agent on the real registry (their
 * keep-alive probes answered over real HTTP), and a host-dispatcher process with its workers. Every process is
 * stopped by pid.
 */
import path from 'node:path';
import { Redis } from 'ioredis';
import { systemClock } from '@switchyard/core';
import { RedisRegistryStore } from '@switchyard/registry';
import { ServerAgent, ServerAgentDefaults } from '@switchyard/server-agent';
import {
  freePort,
  freeTcpUdpPort,
  spawnProcess,
  startRedis,
  waitFor,
  type Spawned,
  type TestRedis,
} from '@switchyard/testing';

const root = path.resolve(import.meta.dirname, '../../..');
export const SCHEDULER_MAIN = path.join(root, 'apps/global-scheduler/dist/main.js');
export const DISPATCHER_MAIN = path.join(root, 'apps/host-dispatcher/dist/main.js');
/** This project's loopback addresses (third octet 14). */
export const HOST = '127.0.14.1';

export interface RealStack {
  redis: TestRedis;
  schedulers: { url: string; proc: Spawned }[];
  schedulerToken: string;
  agents: Map<string, ServerAgent>;
  dispatcher: { url: string; proc: Spawned; sip: string };
  dispatcherToken: string;
  /** POST/GET to a scheduler with its token. */
  scheduler(method: string, p: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  workers(): Promise<{ id: string; pid: number; status: string }[]>;
  stop(): Promise<void>;
}

export async function startRealStack(opts: { servers: string[]; capacity: number }): Promise<RealStack> {
  const redis = await startRedis();
  const stops: (() => Promise<void>)[] = [() => redis.stop()];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const schedulerToken = 'scheduler-token-14';
    const dispatcherToken = 'dispatcher-token-14';
    const env = { ...process.env, LOG_LEVEL: 'warn' };
    // the dispatcher first, alone: its workers must report ready within its fixed 10 s, which a machine shared
    // with other builds can miss; a start that fails that way is retried (bounded), anything else fails the test
    const dispatcherUrlAndProc = await startDispatcher(dispatcherToken, env);
    const dproc = dispatcherUrlAndProc.proc;
    stops.push(() => dproc.stop(8000));
    const dispatcherUrl = dispatcherUrlAndProc.url;
    const sipPort = dispatcherUrlAndProc.sipPort;
    const schedulers: RealStack['schedulers'] = [];
    for (const id of ['sched-a', 'sched-b']) {
      const proc = spawnProcess(
        process.execPath,
        [
          SCHEDULER_MAIN,
          '--id',
          id,
          '--host',
          HOST,
          '--port',
          '0',
          '--redis',
          redis.url,
          '--token',
          schedulerToken,
          // fast rounds; keep-alive at production timings, so a loaded machine does not mark live servers down
          '--round-interval-ms',
          '100',
          '--probe-interval-ms',
          '1000',
          '--probe-timeout-ms',
          '900',
          '--misses',
          '5',
          '--region',
          'eu',
        ],
        { env },
      );
      stops.push(() => proc.stop());
      const line = await untilExit(
        proc,
        `scheduler ${id}`,
        waitFor(
          `scheduler ${id} ready`,
          () =>
            proc
              .output()
              .split('\n')
              .find((l) => l.includes('"scheduler":"ready"')),
          { timeoutMs: 180_000 },
        ),
      );
      schedulers.push({ url: (JSON.parse(line) as { url: string }).url, proc });
    }
    // conference servers: real agents on the real registry, answering the schedulers' HTTP keep-alive
    const regRedis = new Redis(redis.url);
    const store = new RedisRegistryStore({ redis: regRedis, clock: systemClock });
    await store.start();
    stops.push(async () => {
      await store.stop();
      regRedis.disconnect();
    });
    const agents = new Map<string, ServerAgent>();
    for (const [i, id] of opts.servers.entries()) {
      // a long lease: a lease that lapses (a loaded machine stalls the heartbeat past a short TTL) re-registers the
      // server as 'serving', which undoes a drain (a server-agent behaviour, reported; not the console's)
      const a = new ServerAgent({ store, clock: systemClock }, { ...ServerAgentDefaults, ttlMs: 30_000 });
      await a.start({
        id,
        address: `${HOST}:${5100 + i}`,
        region: 'eu',
        capacity: opts.capacity,
        probePort: 0,
        probeHost: HOST,
      });
      agents.set(id, a);
      stops.push(() => a.stop());
    }
    const scheduler = async (method: string, p: string, body?: unknown) => {
      const r = await fetch(`${schedulers[0]!.url}${p}`, {
        method,
        headers: {
          authorization: `Bearer ${schedulerToken}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: r.status, body: await r.json().catch(() => null) };
    };
    return {
      redis,
      schedulers,
      schedulerToken,
      agents,
      dispatcher: { url: dispatcherUrl, proc: dproc, sip: `${HOST}:${sipPort}` },
      dispatcherToken,
      scheduler,
      async workers() {
        const r = await fetch(`${dispatcherUrl}/workers`, {
          headers: { authorization: `Bearer ${dispatcherToken}` },
        });
        return ((await r.json()) as { workers: { id: string; pid: number; status: string }[] }).workers;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** `p`, or a clear failure as soon as the process exits first (with its output). */
async function untilExit<T>(proc: Spawned, what: string, p: Promise<T>): Promise<T> {
  return Promise.race([
    p,
    proc.exited.then(({ code, signal }) => {
      throw new Error(
        `${what} exited (${code ?? signal}) before it was ready: ${proc.output().slice(-2000)}`,
      );
    }),
  ]);
}

async function startDispatcher(
  token: string,
  env: NodeJS.ProcessEnv,
): Promise<{ proc: Spawned; url: string; sipPort: number }> {
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const sipPort = await freeTcpUdpPort(HOST);
    const controlPort = await freePort(HOST);
    const proc = spawnProcess(
      process.execPath,
      [
        DISPATCHER_MAIN,
        '--listen',
        `${HOST}:${sipPort}`,
        '--control-host',
        HOST,
        '--control-port',
        String(controlPort),
        '--control-token',
        token,
        // one worker and no spare: the fewest processes that still show a worker's pid change on restart
        '--min-workers',
        '1',
        '--spare-workers',
        '0',
        '--max-workers',
        '2',
        '--drain-timeout-ms',
        '2000',
        // a machine shared with other builds can take far longer than the default 10 s to fork a worker
        '--worker-start-timeout-ms',
        '60000',
      ],
      { env },
    );
    const url = `http://${HOST}:${controlPort}`;
    try {
      await untilExit(
        proc,
        'dispatcher',
        waitFor(
          'dispatcher healthy',
          async () => {
            const r = await fetch(`${url}/healthz`).catch(() => undefined);
            return r?.ok && ((await r.json()) as { ready: number }).ready >= 1;
          },
          { timeoutMs: 180_000 },
        ),
      );
      return { proc, url, sipPort };
    } catch (err) {
      last = err;
      await proc.stop(2000);
      if (!proc.output().includes('not ready after')) throw err;
    }
  }
  throw last;
}
