/** When every worker is above the load threshold and the maximum is not reached, the primary starts another. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, runSipp } from '@switchyard/testing';
import { startDispatcher, type RunningDispatcher } from './harness.js';

describe('scaling up on load', () => {
  let d: RunningDispatcher;
  beforeAll(async () => {
    d = await startDispatcher({
      minWorkers: 1,
      maxWorkers: 2,
      args: ['--spare-workers', '0', '--load-threshold', '5'],
    });
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('starts a second worker once the first holds 5 calls, and sends new conferences to it', async () => {
    expect((await d.workers()).map((w) => w.id)).toEqual(['w1']);
    const conferences = Array.from({ length: 30 }, (_, i) => `conf-s${i}`);
    const r = await runSipp({
      target: d.target,
      calls: 30,
      rate: 10,
      callLengthMs: 1500,
      timeoutS: 30,
      conferences,
    });
    expect(r.failed, r.diagnostics).toBe(0);
    expect(r.successful).toBe(30);
    const ws = await waitFor('two ready workers', async () => {
      const x = await d.workers();
      return x.filter((w) => w.status === 'ready').length === 2 && x;
    });
    expect(ws.map((w) => w.id)).toEqual(['w1', 'w2']);
    // w1 holds the bindings of the first run for --binding-idle-ms: new conferences go to w2, the least loaded
    const more = await runSipp({
      target: d.target,
      calls: 5,
      rate: 10,
      timeoutS: 30,
      conferences: Array.from({ length: 5 }, (_, i) => `conf-t${i}`),
    });
    expect(more.failed, more.diagnostics).toBe(0);
    expect(await d.metric('sipdisp_forwarded_total', { worker: 'w2' })).toBeGreaterThan(0);
    // never more than the maximum
    expect(ws).toHaveLength(2);
    expect(await d.metric('sipdisp_affinity_violations_total')).toBe(0);
  }, 90_000);
});
