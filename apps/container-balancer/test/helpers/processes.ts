/** Real balancer processes for the end-to-end tests. */
import path from 'node:path';
import { spawnProcess, waitFor, type Spawned } from '@switchyard/testing';
import { API_TOKEN, HOST, REG_TOKEN, spawnMixerAt as spawnMixerWith, type MixerProcess } from './start.js';

export const BALANCER_MAIN = path.resolve(import.meta.dirname, '../../dist/main.js');

export interface BalancerProcess {
  proc: Spawned;
  url: string;
  register: string;
}

export async function spawnBalancer(extra: string[] = []): Promise<BalancerProcess> {
  const proc = spawnProcess(
    process.execPath,
    [BALANCER_MAIN, '--host', HOST, '--port', '0', '--register-host', HOST, '--register-port', '0', ...extra],
    {
      env: {
        ...process.env,
        LOG_LEVEL: 'warn',
        BALANCER_REGISTRATION_TOKEN: REG_TOKEN,
        BALANCER_API_TOKEN: API_TOKEN,
      },
    },
  );
  const line = await waitFor(
    'balancer ready line',
    () =>
      proc
        .output()
        .split('\n')
        .find((l) => l.includes('"balancer":"ready"')),
    { timeoutMs: 60_000 },
  );
  const { url, register } = JSON.parse(line) as { url: string; register: string };
  return { proc, url, register };
}

/** Mixers for these tests heartbeat every 100 ms. */
export const spawnMixerAt = (register: string, id: string, extra: string[] = []): Promise<MixerProcess> =>
  spawnMixerWith(register, id, ['--heartbeat-ms', '100', ...extra]);

export interface ServiceList {
  services: Array<{
    service: string;
    containers: Array<{
      id: string;
      mode: string;
      score: number;
      inFlight: number;
      reportedLoad: number;
      ready: boolean;
      state: string;
    }>;
  }>;
}

export async function queueIds(url: string, service = 'mixer'): Promise<string[]> {
  const s = (await (await fetch(`${url}/v1/services`)).json()) as ServiceList;
  return (s.services.find((x) => x.service === service)?.containers ?? [])
    .filter((c) => c.ready)
    .map((c) => c.id);
}

export async function waitForQueueAt(url: string, ids: string[], timeoutMs = 30_000): Promise<void> {
  const want = [...ids].sort().join(',');
  await waitFor(`queue mixer = [${want}]`, async () => (await queueIds(url)).sort().join(',') === want, {
    timeoutMs,
  });
}

/** The value of one Prometheus sample (0 when absent). */
export async function metric(url: string, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').pop()) : 0;
}
