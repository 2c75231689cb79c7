/**
 * The media mover's counters on the primary's /metrics: workers report cumulative counters, the primary adds the
 * differences to `sipdisp_media_mover_total{event}` (a real prom-client registry, read as /metrics serves it).
 */
import dgram from 'node:dgram';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startDispatcher, type RunningDispatcher } from './harness.js';
import { invite } from './sip-fixtures.js';
import { DispatcherMetrics } from '../src/metrics.js';
import { MOVER_EVENTS, MoverMetrics } from '../src/primary/mover-metrics.js';
import type { MediaMoveCounters } from '../src/worker/media-move.js';

const zero = Object.fromEntries(Object.keys(MOVER_EVENTS).map((k) => [k, 0])) as unknown as MediaMoveCounters;

async function exported(m: DispatcherMetrics): Promise<Record<string, number>> {
  const text = await m.registry.metrics();
  const out: Record<string, number> = {};
  for (const [, event, v] of text.matchAll(/^sipdisp_media_mover_total\{event="([^"]+)"\} (\d+)$/gm)) {
    out[event!] = Number(v);
  }
  return out;
}

describe('media mover counters on /metrics', () => {
  it('every event is exported from the start, at 0', async () => {
    const m = new DispatcherMetrics();
    new MoverMetrics(m.mediaMover);
    const got = await exported(m);
    expect(Object.keys(got).sort()).toEqual(Object.values(MOVER_EVENTS).sort());
    expect(Object.values(got).every((v) => v === 0)).toBe(true);
  });

  it('adds the differences of cumulative reports, per worker; a repeated report adds nothing', async () => {
    const m = new DispatcherMetrics();
    const mm = new MoverMetrics(m.mediaMover);
    mm.report('w1', { ...zero, lost: 1, moved: 1, reinvites: 3, reinvitesOk: 2, reinvitesFailed: 1 });
    mm.report('w2', { ...zero, reinvites: 2, reinvitesOk: 2 });
    mm.report('w1', { ...zero, lost: 1, moved: 1, reinvites: 3, reinvitesOk: 2, reinvitesFailed: 1 });
    mm.report('w1', {
      ...zero,
      lost: 1,
      moved: 1,
      reinvites: 5,
      reinvitesOk: 3,
      reinvitesFailed: 2,
      dialogsEnded: 1,
    });
    const got = await exported(m);
    expect(got['reinvite-sent']).toBe(7);
    expect(got['reinvite-answered']).toBe(5);
    expect(got['reinvite-failed']).toBe(2);
    expect(got['dialog-ended']).toBe(1);
    expect(got['mixer-lost']).toBe(1);
    expect(got['conference-moved']).toBe(1);
    expect(got['check-failed']).toBe(0);
  });

  it('a worker that exited and one restarted under the same id count from 0 again; bad values are ignored', async () => {
    const m = new DispatcherMetrics();
    const mm = new MoverMetrics(m.mediaMover);
    mm.report('w1', { ...zero, reinvites: 4 });
    mm.forget('w1');
    mm.report('w1', { ...zero, reinvites: 1 });
    // no forget (the exit seen after the new process's first report): a smaller value is a new process
    mm.report('w2', { ...zero, reinvites: 5 });
    mm.report('w2', { ...zero, reinvites: 2 });
    mm.report('w3', { ...zero, reinvites: -1, reinvitesOk: 1.5 } as MediaMoveCounters);
    mm.report('w3', { bogus: 9 } as unknown as MediaMoveCounters);
    const got = await exported(m);
    expect(got['reinvite-sent']).toBe(4 + 1 + 5 + 2);
    expect(got['reinvite-answered']).toBe(0);
  });
});

describe('a real dispatcher: the workers report the mover counters to /metrics', () => {
  let d: RunningDispatcher | undefined;
  let srv: http.Server | undefined;
  let caller: dgram.Socket | undefined;
  afterEach(async () => {
    await d?.stop();
    caller?.close();
    srv?.closeAllConnections();
    if (srv) await new Promise((r) => srv!.close(r));
    d = srv = caller = undefined;
  });

  it('a balancer whose container list fails: the worker counts check-failed and the primary exports it', async () => {
    // the balancer's place: allocations answered, the container list (the mover's check) refused
    srv = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.method === 'POST' && req.url === '/v1/allocations') {
          res.writeHead(200, { 'content-type': 'application/json' }).end(
            JSON.stringify({
              service: 'mixer',
              key: 'conf-mm',
              containerId: 'mixer-a',
              allocation: { conference: 'conf-mm', rtp: { address: '127.0.0.77', port: 40002 } },
            }),
          );
        } else res.writeHead(500).end();
      });
    });
    await new Promise<void>((r) => srv!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    d = await startDispatcher({ minWorkers: 1, args: ['--balancer-url', url, '--media-check-ms', '100'] });
    expect(await d.metric('sipdisp_media_mover_total', { event: 'check-failed' })).toBe(0);
    caller = dgram.createSocket('udp4');
    await new Promise<void>((r) => caller!.bind(0, '127.0.0.1', r));
    const bytes = invite({ conf: 'conf-mm', callId: 'mm-1@127.0.0.1', branch: 'z9hG4bK-mm1' });
    const [host, port] = d.target.split(':');
    caller.send(bytes, Number(port), host);
    // bounded polling: the worker checks every 100 ms and reports once a second
    let failed = 0;
    for (let i = 0; i < 300 && failed === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      failed = await d.metric('sipdisp_media_mover_total', { event: 'check-failed' });
    }
    expect(failed, 'no check-failed on /metrics within 30 s').toBeGreaterThan(0);
    expect(await d.metric('sipdisp_media_mover_total', { event: 'reinvite-sent' })).toBe(0);
  }, 90_000);
});
