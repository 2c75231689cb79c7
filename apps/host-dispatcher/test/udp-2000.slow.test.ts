/** SIPp uac → dispatcher with 2 workers over UDP: 2,000 calls at 100 calls/s, 0 failed, 0 unexpected (≈ 20 s). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSipp } from '@switchyard/testing';
import { startDispatcher, type RunningDispatcher } from './harness.js';

describe('2,000 calls over UDP through 2 workers', () => {
  let d: RunningDispatcher;
  beforeAll(async () => {
    d = await startDispatcher({ minWorkers: 2, maxWorkers: 2 });
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('completes every call, with no unexpected message, spread over both workers', async () => {
    // 50 conferences, 40 calls each, taken in turn
    const conferences = Array.from({ length: 50 }, (_, i) => `conf-${i}`);
    const r = await runSipp({
      target: d.target,
      calls: 2000,
      rate: 100,
      limit: 400,
      timeoutS: 60,
      conferences,
    });
    expect(r.failed, r.diagnostics).toBe(0);
    expect(r.unexpected, r.diagnostics).toBe(0);
    expect(r.successful, r.diagnostics).toBe(2000);
    expect(await d.metric('sipdisp_affinity_violations_total')).toBe(0);
    expect(await d.metric('sipdisp_malformed_total')).toBe(0);
    const forwarded = await Promise.all(
      ['w1', 'w2'].map((w) => d.metric('sipdisp_forwarded_total', { worker: w })),
    );
    // both workers carried a real share
    expect(Math.min(...forwarded)).toBeGreaterThan(2000);
    expect(forwarded[0]! + forwarded[1]!).toBe(await d.metric('sipdisp_datagrams_total'));
  }, 120_000);
});
