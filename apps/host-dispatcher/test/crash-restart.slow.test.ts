/**
 * kill -9 of a worker in the middle of a SIPp run: a spare replaces it, the calls that fail are counted and bounded,
 * and later calls succeed. How fast the replacement is is measured by the `dispatcher` benchmark, not asserted here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, runSipp } from '@switchyard/testing';
import { startDispatcher, type RunningDispatcher } from './harness.js';

const RATE = 40;
const CALL_LENGTH_MS = 1000;

describe('kill -9 of a worker during a run', () => {
  let d: RunningDispatcher;
  beforeAll(async () => {
    d = await startDispatcher({ minWorkers: 2, maxWorkers: 2 });
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('promotes the spare, bounds the failed calls, and serves later calls', async () => {
    const conferences = Array.from({ length: 20 }, (_, i) => `conf-k${i}`);
    const run = runSipp({
      target: d.target,
      calls: 400,
      rate: RATE,
      limit: 200,
      callLengthMs: CALL_LENGTH_MS,
      timeoutS: 60,
      conferences,
    });
    // wait until the victim holds dialogs
    const victim = await waitFor('w1 holding dialogs', async () => {
      const w = (await d.workers()).find((x) => x.id === 'w1');
      return w && (w.state?.dialogs ?? 0) >= 5 && w;
    });
    const heldAtKill = victim.state!.dialogs;
    process.kill(victim.pid, 'SIGKILL');
    const replacement = await waitFor(
      'a ready worker replacing the killed one',
      async () => {
        const ws = await d.workers();
        return (
          !ws.some((w) => w.pid === victim.pid) &&
          ws.filter((w) => w.status === 'ready').length === 2 &&
          ws.find((w) => w.id !== 'w2')
        );
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    // the promoted spare, not a fresh fork
    expect(replacement.id).toBe('w3');
    expect(replacement.pid).not.toBe(victim.pid);
    const r = await run;
    // dialogs of the dead worker are handed to the promoted spare (dialog-handover.slow.test.ts asserts 0 failed
    // calls); this run keeps the older, looser bound: the dialogs held at the kill plus one call-length of calls.
    const bound = heldAtKill + RATE * (CALL_LENGTH_MS / 1000) + 10;
    expect(r.failed, r.diagnostics).toBeLessThanOrEqual(bound);
    expect(r.successful + r.failed, r.diagnostics).toBe(400);
    expect(await d.metric('sipdisp_worker_restarts_total')).toBe(1);
    expect(await d.metric('sipdisp_affinity_violations_total')).toBe(0);
    // later calls all succeed, on both workers
    const after = await runSipp({ target: d.target, calls: 60, rate: 30, timeoutS: 30, conferences });
    expect(after.failed, after.diagnostics).toBe(0);
    expect(after.successful).toBe(60);
    // and a fresh hot spare was forked to replace the promoted one
    await waitFor('a new spare', async () =>
      (await d.workers()).some((w) => w.status === 'spare' && w.pid !== victim.pid),
    );
  }, 120_000);
});
