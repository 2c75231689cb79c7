import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, runSipp } from '@switchyard/testing';
import { startDispatcher, type RunningDispatcher } from './harness.js';

describe('control API on a running dispatcher', () => {
  let d: RunningDispatcher;
  beforeAll(async () => {
    // Steering off: this test counts the datagrams the primary saw, and a steered peer's later datagrams go to
    // its worker's socket without passing the primary (the count then depends on when the peer was delegated).
    d = await startDispatcher({
      minWorkers: 2,
      maxWorkers: 3,
      args: ['--drain-timeout-ms', '3000', '--steering=false'],
    });
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('lists workers with pid and load, serves /healthz and /metrics', async () => {
    const h = await fetch(`${d.control}/healthz`);
    expect(h.status).toBe(200);
    const ws = await d.workers();
    // two active workers and one hot spare
    expect(ws.map((w) => [w.id, w.status])).toEqual([
      ['w1', 'ready'],
      ['w2', 'ready'],
      ['w3', 'spare'],
    ]);
    for (const w of ws) {
      expect(w.pid).toBeGreaterThan(0);
      expect(w.state?.pid).toBe(w.pid);
    }
    const r = await runSipp({ target: d.target, service: 'conf-api', calls: 5, rate: 10, timeoutS: 20 });
    expect(r.successful, r.diagnostics).toBe(5);
    const text = await (await fetch(`${d.control}/metrics`)).text();
    for (const name of [
      'sipdisp_datagrams_total',
      'sipdisp_forwarded_total',
      'sipdisp_tcp_handoffs_total',
      'sipdisp_affinity_violations_total',
      'sipdisp_malformed_total',
      'sipdisp_worker_load',
    ]) {
      expect(text).toContain(name);
    }
    // 5 calls × (INVITE, ACK, BYE), plus whatever SIPp retransmitted on a loaded machine.
    expect(await d.metric('sipdisp_datagrams_total'), r.diagnostics).toBe(15 + r.retransmissions);
    const loads = (await d.workers()).map((w) => w.load);
    expect(loads[2]).toBe(0);
    expect(loads.reduce((a, b) => a + b, 0)).toBe(5);
  });

  it('refuses mutations without the token; drain retires a worker and keeps the pool at its minimum', async () => {
    const before = await d.workers();
    expect((await d.post('/workers/w1/drain', false)).status).toBe(401);
    expect((await d.post('/workers/nope/drain')).status).toBe(404);
    const drained = await d.post('/workers/w1/drain');
    expect(drained.status).toBe(200);
    await waitFor('w1 gone and a replacement ready', async () => {
      const ws = await d.workers();
      return !ws.some((w) => w.id === 'w1') && ws.filter((w) => w.status === 'ready').length === 2 && ws;
    });
    expect(before.some((w) => w.id === 'w1')).toBe(true);
    const restarted = await d.post('/workers/w2/restart');
    expect(restarted.status).toBe(200);
    const ws = await d.workers();
    expect(ws.some((w) => w.id === 'w2')).toBe(false);
    expect(ws.filter((w) => w.status === 'ready')).toHaveLength(2);
    // restarts on request are not crashes
    expect(await d.metric('sipdisp_worker_restarts_total')).toBe(0);
  });
});
