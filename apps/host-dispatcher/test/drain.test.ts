/** SIGTERM drains: no new conferences (503), dialogs in progress finish, then the dispatcher exits 0. */
import dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { waitFor, runSipp } from '@switchyard/testing';
import { startDispatcher } from './harness.js';
import { invite } from './sip-fixtures.js';

describe('SIGTERM', () => {
  it('refuses new conferences, lets dialogs finish, then exits 0', async () => {
    const d = await startDispatcher({ minWorkers: 2, args: ['--drain-timeout-ms', '8000'] });
    try {
      const run = runSipp({
        target: d.target,
        service: 'conf-drain',
        calls: 4,
        rate: 20,
        callLengthMs: 2500,
        timeoutS: 20,
      });
      await waitFor(
        '4 dialogs up',
        async () => (await d.workers()).reduce((n, w) => n + (w.state?.dialogs ?? 0), 0) >= 4,
      );
      d.proc.child.kill('SIGTERM');
      // the primary says when it took the signal: /healthz reports the drain
      await waitFor('the primary draining', async () => {
        const h = (await (await fetch(`${d.control}/healthz`)).json()) as { state: string };
        return h.state === 'draining';
      });
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
      const answer = new Promise<string>((resolve) =>
        sock.once('message', (m) => resolve(m.toString('latin1'))),
      );
      sock.send(invite({ callId: 'new-after-term', conf: 'conf-new' }), d.sipPort, '127.0.0.1');
      const first = await answer;
      sock.close();
      expect(first).toMatch(/^SIP\/2\.0 503 /);
      const r = await run;
      expect(r.successful, r.diagnostics).toBe(4);
      const exit = await d.proc.exited;
      expect(exit.code).toBe(0);
    } finally {
      await d.stop();
    }
  }, 60_000);
});
