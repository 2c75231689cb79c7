/**
 * A balancer in-process (system clock) with real mixer processes dialing in: registration, allocations (sticky),
 * the C4 control API with its token, the /svc proxy, and 503 with Retry-After when no container serves.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '@switchyard/core';
import { stopAllSpawned, waitFor } from '@switchyard/testing';
import type { BalancerApp } from '../src/index.js';
import { API_TOKEN, json, spawnMixer, startBalancer, waitForQueue } from './helpers/start.js';

interface Alloc {
  service: string;
  key: string;
  containerId: string;
  allocation: { conference: string; rtp: { address: string; port: number } };
}

describe('balancer with real mixers', () => {
  let b: BalancerApp;
  const auth = { authorization: `Bearer ${API_TOKEN}` };
  const allocate = (key: string, headers: Record<string, string> = auth) =>
    fetch(`${b.url}/v1/allocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ service: 'mixer', key }),
    });

  beforeAll(async () => {
    b = await startBalancer(systemClock);
    await Promise.all(['m1', 'm2'].map((id) => spawnMixer(b, id)));
    await waitForQueue(b, ['m1', 'm2']);
  });
  afterAll(async () => {
    await stopAllSpawned();
    await b.stop();
  });

  it('answers a service with no container with 503, Retry-After and a clear body', async () => {
    const res = await fetch(`${b.url}/v1/allocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ service: 'nothing-here', key: 'k' }),
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await json(res)).toMatchObject({ code: 'BAL_ERR_NO_CONTAINER' });
    const proxied = await fetch(`${b.url}/svc/nothing-here/x`);
    expect(proxied.status).toBe(503);
  });

  it('allocates on a mixer, returns its RTP address, and keeps a key on its container', async () => {
    expect((await allocate('conf-1', {})).status).toBe(401);
    const first = await json<Alloc>(await allocate('conf-1'));
    expect(first).toMatchObject({ service: 'mixer', key: 'conf-1' });
    expect(['m1', 'm2']).toContain(first.containerId);
    expect(first.allocation.conference).toBe('conf-1');
    expect(first.allocation.rtp.port).toBeGreaterThan(0);
    // the other mixer is now less loaded, yet the key stays put
    for (let i = 0; i < 5; i++) {
      const again = await json<Alloc>(await allocate('conf-1'));
      expect(again.containerId).toBe(first.containerId);
      expect(again.allocation).toEqual(first.allocation);
    }
    const second = await json<Alloc>(await allocate('conf-2'));
    expect(second.containerId).not.toBe(first.containerId);
  });

  it('lists services head first, drains and undrains with the token, proxies /svc requests', async () => {
    const s = await json<{
      services: Array<{
        service: string;
        containers: Array<{ id: string; score: number; state: string; mode: string }>;
      }>;
    }>(await fetch(`${b.url}/v1/services`));
    const q = s.services.find((x) => x.service === 'mixer')!;
    expect(q.containers.map((c) => c.mode)).toEqual(['direct', 'direct']);
    expect(q.containers[0]!.score).toBeLessThanOrEqual(q.containers[1]!.score);

    expect((await fetch(`${b.url}/v1/containers/m1/drain`, { method: 'POST' })).status).toBe(401);
    expect((await fetch(`${b.url}/v1/containers/nope/drain`, { method: 'POST', headers: auth })).status).toBe(
      404,
    );
    const drained = await fetch(`${b.url}/v1/containers/m1/drain`, { method: 'POST', headers: auth });
    expect(await json(drained)).toMatchObject({ id: 'm1', state: 'draining' });
    for (let i = 0; i < 4; i++) {
      const r = await fetch(`${b.url}/svc/mixer/v1/stats`);
      expect(r.status).toBe(200);
      expect(r.headers.get('x-container-id')).toBe('m2');
      expect(await json(r)).toMatchObject({ id: 'm2' });
    }
    await fetch(`${b.url}/v1/containers/m1/undrain`, { method: 'POST', headers: auth });
    expect(b.table.get('m1')?.state).toBe('serving');
  });

  it('evicts a container with the token; the mixer redials and registers again', async () => {
    expect((await fetch(`${b.url}/v1/containers/m2`, { method: 'DELETE', headers: auth })).status).toBe(200);
    expect(b.table.get('m2')).toBeUndefined();
    await waitForQueue(b, ['m1', 'm2']);
    const metrics = await (await fetch(`${b.url}/metrics`)).text();
    expect(metrics).toMatch(/balancer_containers\{service="mixer"\} 2/);
    expect(metrics).toMatch(/balancer_containers_dropped_total\{service="mixer"\} [1-9]/);
    expect(metrics).toMatch(/balancer_requests_total\{service="mixer",outcome="ok"\} \d+/);
    const doc = await json<{ paths: Record<string, unknown> }>(await fetch(`${b.url}/documentation/json`));
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/services',
        '/v1/allocations',
        '/v1/containers/{id}/drain',
        '/v1/containers/{id}',
      ]),
    );
    await waitFor('healthz', async () => (await fetch(`${b.url}/healthz`)).ok);
  });
});
