/** The control API's handlers through fastify's inject(), against a stub target (the real socket path is tested in control-api.test.ts). */
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { DispatcherError, buildControlApi, type ControlTarget, type WorkerView } from '../src/index.js';

function target(): ControlTarget & { drained: string[]; scrapes: number } {
  const view: WorkerView = {
    id: 'w1',
    pid: 1,
    status: 'ready',
    load: 3,
    state: {
      id: 'w1',
      pid: 1,
      dialogs: 1,
      transactions: 1,
      conferences: [{ id: 'conf-7', participants: 1 }],
      callIds: ['call-1'],
      violations: 0,
      malformed: 0,
      tcpConnections: 0,
      requests: 1,
      retransmissionsAbsorbed: 0,
      draining: false,
    },
  };
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
    const auth = { authorization: 'Bearer tok' };
    expect(
      (await app.inject({ method: 'GET', url: '/conferences/conf-7', headers: auth })).json(),
    ).toMatchObject({ boundTo: 'w1' });
    expect((await app.inject({ method: 'GET', url: '/conferences/conf-x', headers: auth })).statusCode).toBe(
      404,
    );
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expect(t.scrapes).toBe(1);
    await app.close();
  });

  it('shows sessions (Call-IDs, conferences) only with the token or the read token', async () => {
    const app = buildControlApi(target(), { token: 'tok', readToken: 'reader' });
    const anonymous = (await app.inject({ method: 'GET', url: '/workers' })).json();
    expect(anonymous.workers[0]).toMatchObject({ id: 'w1', load: 3, state: { dialogs: 1 } });
    expect(anonymous.workers[0].state.callIds).toEqual([]);
    expect(anonymous.workers[0].state.conferences).toEqual([]);
    expect(JSON.stringify(anonymous)).not.toMatch(/call-1|conf-7/);
    expect((await app.inject({ method: 'GET', url: '/conferences/conf-7' })).statusCode).toBe(401);
    for (const token of ['tok', 'reader']) {
      const headers = { authorization: `Bearer ${token}` };
      const named = (await app.inject({ method: 'GET', url: '/workers', headers })).json();
      expect(named.workers[0].state.callIds).toEqual(['call-1']);
      const conf = await app.inject({ method: 'GET', url: '/conferences/conf-7', headers });
      expect(conf.statusCode).toBe(200);
    }
    // the read token changes nothing
    const drain = await app.inject({
      method: 'POST',
      url: '/workers/w1/drain',
      headers: { authorization: 'Bearer reader' },
    });
    expect(drain.statusCode).toBe(401);
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
