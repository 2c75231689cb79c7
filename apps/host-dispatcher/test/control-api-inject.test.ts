/** The control API's handlers through fastify's inject(), against a stub target (the real socket path is tested in control-api.test.ts). */
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { DispatcherError, buildControlApi, type ControlTarget, type WorkerView } from '../src/index.js';

function target(): ControlTarget & { drained: string[]; scrapes: number } {
  const view: WorkerView = { id: 'w1', pid: 1, status: 'ready', load: 3, state: undefined };
  const drained: string[] = [];
  return {
    drained,
    listWorkers: async () => [view],
    drainWorker: (id) => {
      if (id !== 'w1') throw new DispatcherError('DSP_ERR_NO_WORKER', 'no');
      drained.push(id);
      return { ...view, status: 'draining' };
    },
    restartWorker: async () => ({ stopped: 'w1', started: 'w2' }),
    health: () => ({ ok: false, state: 'running', ready: 0 }),
    conferenceHost: (c) => (c === 'conf-7' ? 'w1' : undefined),
    scrapes: 0,
    refreshGauges() {
      this.scrapes++;
    },
    metrics: { registry: new Registry() },
  };
}

describe('control API handlers', () => {
  it('guards mutations with the bearer token, maps unknown workers to 404, reports health', async () => {
    const t = target();
    const app = buildControlApi(t, { token: 'tok' });
    expect((await app.inject({ method: 'POST', url: '/workers/w1/drain' })).statusCode).toBe(401);
    expect(
      (
        await app.inject({
          method: 'POST',
          url: '/workers/w1/drain',
          headers: { authorization: 'Bearer nope' },
        })
      ).statusCode,
    ).toBe(401);
    const ok = await app.inject({
      method: 'POST',
      url: '/workers/w1/drain',
      headers: { authorization: 'Bearer tok' },
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ id: 'w1', status: 'draining' });
    expect(t.drained).toEqual(['w1']);
    expect(
      (
        await app.inject({
          method: 'POST',
          url: '/workers/w9/drain',
          headers: { authorization: 'Bearer tok' },
        })
      ).statusCode,
    ).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(503);
    expect((await app.inject({ method: 'GET', url: '/conferences/conf-7' })).json()).toMatchObject({
      boundTo: 'w1',
    });
    expect((await app.inject({ method: 'GET', url: '/conferences/conf-x' })).statusCode).toBe(404);
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expect(t.scrapes).toBe(1);
    await app.close();
  });

  it('refuses every mutation when no token is configured', async () => {
    const app = buildControlApi(target(), { token: '' });
    expect(
      (
        await app.inject({
          method: 'POST',
          url: '/workers/w1/restart',
          headers: { authorization: 'Bearer ' },
        })
      ).statusCode,
    ).toBe(401);
    await app.close();
  });
});
