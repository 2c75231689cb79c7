/**
 * The real tier-2 and tier-4 processes the console's browser test runs against, started through their package
 * bins (@switchyard/launch): two pop-router processes gossiping over loopback (unicast), and a container-balancer
 * with two mixer processes that dial in and register. Every process is stopped by pid.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freeTcpUdpPort, spawnBin, waitFor, type Spawned } from '@switchyard/testing';

export interface RealPop {
  /** Each router's control URL, by host id. */
  routers: Map<string, { url: string; proc: Spawned }>;
  token: string;
  /** A request to one router's control API, with its token. */
  call(id: string, method: string, p: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  stop(): Promise<void>;
}

export interface RealBalancer {
  url: string;
  token: string;
  proc: Spawned;
  mixers: Map<string, Spawned>;
  services(): Promise<{ service: string; containers: { id: string; state: string }[] }[]>;
  stop(): Promise<void>;
}

/** The first JSON line of `proc`'s output holding `key`, or a clear failure when the process exits first. */
async function readyLine<T>(proc: Spawned, what: string, key: string): Promise<T> {
  const line = await Promise.race([
    waitFor(
      `${what} ready`,
      () =>
        proc
          .output()
          .split('\n')
          .find((l) => l.startsWith('{') && l.includes(`"${key}":"ready"`)),
      // a process takes seconds to start on a machine shared with other builds (14 s seen at load 30)
      { timeoutMs: 180_000 },
    ),
    proc.exited.then(({ code, signal }) => {
      throw new Error(
        `${what} exited (${code ?? signal}) before it was ready: ${proc.output().slice(-2000)}`,
      );
    }),
  ]);
  return JSON.parse(line) as T;
}

async function request(
  url: string,
  token: string,
  method: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const r = await fetch(url, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}

/** Pop-router processes, one per host id, each on its own loopback address `127.0.14.(10+i)`. */
export async function startPopRouters(ids: string[]): Promise<RealPop> {
  const token = 'pop-token-14';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'console-pop-'));
  const keyring = path.join(dir, 'keyring.json');
  fs.writeFileSync(
    keyring,
    JSON.stringify({ primary: 1, keys: [{ id: 1, secret: 'console-test-pop-secret-0123456789' }] }),
    {
      mode: 0o600,
    },
  );
  const hosts: { id: string; address: string; gossip: number }[] = [];
  for (const [i, id] of ids.entries()) {
    const address = `127.0.14.${10 + i}`;
    hosts.push({ id, address, gossip: await freeTcpUdpPort(address) });
  }
  const routers = new Map<string, { url: string; proc: Spawned }>();
  const stop = async () => {
    for (const r of routers.values()) await r.proc.stop(5000).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    // all started at once (each joins the others through its seeds as they come up), then each waited for
    const procs = hosts.map((h) => {
      const proc = spawnBin(
        '@switchyard/pop-router',
        [
          ...['--id', h.id, '--address', h.address, '--gossip-port', String(h.gossip)],
          ...['--gossip-transport', 'unicast', '--gossip-profile', 'test'],
          ...hosts.filter((o) => o !== h).flatMap((o) => ['--seeds', `${o.address}:${o.gossip}`]),
          ...['--keyring-file', keyring, '--tunnel-port', '0'],
          ...['--host', h.address, '--port', '0', '--token', token],
        ],
        { env: { ...process.env, LOG_LEVEL: 'warn' } },
      );
      routers.set(h.id, { url: '', proc });
      return { h, proc };
    });
    for (const { h, proc } of procs) {
      const ready = await readyLine<{ url: string }>(proc, `pop-router ${h.id}`, 'popRouter');
      routers.set(h.id, { url: ready.url, proc });
    }
    return {
      routers,
      token,
      call: (id, method, p, body) => request(`${routers.get(id)!.url}${p}`, token, method, body),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A container balancer and `mixers` mixer processes registered with it (direct mode). */
export async function startBalancer(host: string, mixers: string[]): Promise<RealBalancer> {
  const token = 'bal-token-14';
  const registration = 'bal-registration-14';
  const env = { ...process.env, LOG_LEVEL: 'warn' };
  const proc = spawnBin(
    '@switchyard/container-balancer',
    [
      ...['--host', host, '--port', '0', '--register-host', host, '--register-port', '0'],
      ...['--registration-token', registration, '--api-token', token],
      // a loaded machine can stall a mixer's heartbeat: a short deadline would drop live containers
      ...['--deadline-ms', '15000'],
    ],
    { env },
  );
  const started = new Map<string, Spawned>();
  const stop = async () => {
    for (const m of started.values()) await m.stop(5000).catch(() => undefined);
    await proc.stop(5000).catch(() => undefined);
  };
  try {
    const ready = await readyLine<{ url: string; register: string }>(proc, 'container-balancer', 'balancer');
    const services = async () =>
      (
        (await request(`${ready.url}/v1/services`, token, 'GET')).body as {
          services: { service: string; containers: { id: string; state: string }[] }[];
        }
      ).services;
    for (const id of mixers) {
      const m = spawnBin(
        '@switchyard/mixer',
        [
          ...['--id', id, '--mode', 'direct', '--host', host, '--port', '0', '--rtp-host', host],
          ...['--balancer', ready.register, '--registration-token', registration],
          ...['--max-conferences', '10'],
        ],
        { env },
      );
      started.set(id, m);
    }
    await waitFor(
      'every mixer registered with the balancer',
      async () => {
        const ids = (await services()).flatMap((s) => s.containers.map((c) => c.id));
        return mixers.every((id) => ids.includes(id));
      },
      { timeoutMs: 180_000 },
    );
    return { url: ready.url, token, proc, mixers: started, services, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
