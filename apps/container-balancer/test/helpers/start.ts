/** Test helpers: a balancer in-process on 127.0.41.1, real mixer processes, a raw registration socket. */
import net from 'node:net';
import path from 'node:path';
import { silentLogger, systemClock, type Clock } from '@switchyard/core';
import { ContainerLink, LINK_TEST_PROFILE, encodeLinkFrame, type Hello } from '@switchyard/container-link';
import { encodeFrame, type RecordBody } from '@switchyard/registry';
import { spawnProcess, waitFor, type Spawned } from '@switchyard/testing';
import { BALANCER_TEST_PROFILE, BalancerApp, BalancerSettings, resolveConfig } from '../../src/index.js';

export const HOST = '127.0.41.1';
export const REG_TOKEN = 'registration-token-1';
export const API_TOKEN = 'api-token-123';

export async function startBalancer(clock: Clock, over: Record<string, unknown> = {}): Promise<BalancerApp> {
  const { helloTimeoutMs, upstreamTimeoutMs, pickLogSize } = BALANCER_TEST_PROFILE;
  // heartbeats every 50 ms; a deadline of seconds keeps a loaded shared machine from dropping healthy mixers
  const deadlineMs = 3000;
  const checkEveryMs = 100;
  const config = resolveConfig(
    BalancerSettings.parse({
      host: HOST,
      port: 0,
      registerHost: HOST,
      registerPort: 0,
      registrationToken: REG_TOKEN,
      apiToken: API_TOKEN,
      deadlineMs,
      checkEveryMs,
      helloTimeoutMs,
      upstreamTimeoutMs,
      pickLogSize,
      ...over,
    }),
  );
  const app = new BalancerApp({ clock, logger: silentLogger }, config);
  await app.start();
  return app;
}

export const MIXER_MAIN = path.resolve(import.meta.dirname, '../../../mixer/dist/main.js');

export interface MixerProcess {
  proc: Spawned;
  id: string;
  url: string | null;
}

/** A real mixer process dialing the registration address `register` (bounded wait for its ready line). */
export async function spawnMixerAt(
  register: string,
  id: string,
  extra: string[] = [],
): Promise<MixerProcess> {
  const proc = spawnProcess(
    process.execPath,
    [
      MIXER_MAIN,
      '--id',
      id,
      '--host',
      HOST,
      '--rtp-host',
      HOST,
      '--balancer',
      register,
      '--reconnect-ms',
      '50',
      ...extra,
    ],
    { env: { ...process.env, LOG_LEVEL: 'warn', MIXER_REGISTRATION_TOKEN: REG_TOKEN } },
  );
  const line = await waitFor(
    `mixer ${id} ready line`,
    () =>
      proc
        .output()
        .split('\n')
        .find((l) => l.includes('"mixer":"ready"')),
    { timeoutMs: 60_000 }, // a shared, loaded machine can take many seconds to start a Node process
  );
  return { proc, id, url: (JSON.parse(line) as { url: string | null }).url };
}

/** A real mixer process dialing the in-process `balancer`, heartbeating every 50 ms. */
export function spawnMixer(balancer: BalancerApp, id: string, extra: string[] = []): Promise<MixerProcess> {
  const reg = balancer.registrationAddress();
  return spawnMixerAt(`${reg.host}:${reg.port}`, id, ['--heartbeat-ms', '50', ...extra]);
}

/** Waits (bounded) until the balancer's queue for `service` holds exactly `ids` (any order). */
export async function waitForQueue(balancer: BalancerApp, ids: string[], service = 'mixer'): Promise<void> {
  const want = [...ids].sort().join(',');
  await waitFor(
    `queue ${service} = [${want}]`,
    () => {
      const s = balancer.table.services().find((x) => x.service === service);
      const have = (s?.containers ?? [])
        .filter((c) => c.ready)
        .map((c) => c.id)
        .sort()
        .join(',');
      return have === want;
    },
    { timeoutMs: 30_000 },
  );
}

export function record(id: string, over: Partial<RecordBody> = {}): RecordBody {
  return {
    id,
    service: 'mixer',
    address: `${HOST}:9`,
    region: 'default',
    load: 0,
    capacity: 10,
    state: 'serving',
    meta: { mode: 'direct' },
    ...over,
  };
}

/** A raw registration connection: writes `frames`, collects what the balancer answers, resolves on close. */
export function rawConnection(
  port: number,
  frames: Buffer[],
): { sock: net.Socket; received: () => Buffer; closed: Promise<void> } {
  const sock = net.connect({ host: HOST, port });
  const chunks: Buffer[] = [];
  sock.on('data', (c) => chunks.push(c));
  sock.on('error', () => undefined);
  sock.once('connect', () => {
    for (const f of frames) sock.write(f);
  });
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  return { sock, received: () => Buffer.concat(chunks), closed };
}

export const hello = (token = REG_TOKEN, extra: Partial<Hello> = {}): Buffer =>
  encodeLinkFrame({ v: 1, k: 'hello', token, role: 'register', ...extra });
export const hb = (rec: RecordBody, seq = 0): Buffer => encodeFrame({ v: 1, k: 'hb', seq, record: rec });

export async function json<T>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

/** Registers the HTTP server at `address` as direct container `id` of `service` (@switchyard/container-link, real TCP). */
export async function linkDirect(
  balancer: BalancerApp,
  record: { id: string; service: string; capacity: number; address: string; meta?: Record<string, string> },
): Promise<ContainerLink> {
  const reg = balancer.registrationAddress();
  const link = new ContainerLink(
    { clock: systemClock },
    {
      host: reg.host,
      port: reg.port,
      token: REG_TOKEN,
      mode: 'direct',
      heartbeatMs: LINK_TEST_PROFILE.heartbeatMs,
      reconnectMs: LINK_TEST_PROFILE.reconnectMs,
      record,
    },
  );
  await link.start();
  return link;
}
