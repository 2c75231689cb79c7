/**
 * Smoke test of the `dispatcher` benchmark in `--quick` mode, on the sections that need no Kamailio: it runs real
 * processes and SIPp and must write a well-formed report (JSON and markdown). It checks the shape, never the speed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageBin } from '@switchyard/launch';
import { dispatcherBenchMain, type DispatcherBenchReport } from '../src/index.js';

describe('dispatcher bench --quick', () => {
  it('runs the TCP, latency, CPU-per-call and overload sections alone and writes the report', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dispatcher-bench-'));
    // the A/B mode: a "base build" beside ours in the TCP rotation (here the same build, so only the shape is checked)
    process.env['BENCH_DISPATCHER_BASE_MAIN'] = packageBin('@switchyard/host-dispatcher', 'host-dispatcher');
    try {
      const argv = [
        '--quick',
        '--no-kamailio',
        '--sections',
        'tcp,latency,cpu,overload',
        '--tcp-runs',
        '2',
        '--out',
        dir,
      ];
      expect(await dispatcherBenchMain(argv)).toBe(0);
      const r = JSON.parse(
        fs.readFileSync(path.join(dir, 'host-dispatcher.json'), 'utf8'),
      ) as DispatcherBenchReport;
      expect(r.command).toBe(`node tools/bench/dist/main.js dispatcher ${argv.join(' ')}`);
      // sections not asked for are not run
      expect(r.callRate).toEqual({});
      // --tcp-runs is honoured (it was once ignored: parseCli keys values by camelCase field)
      expect(r.options.tcpRuns).toBe(2);
      expect(Object.keys(r.tcpHandoffs).sort()).toEqual([
        '1 worker, direct (no hand-off)',
        'base build: dispatcher, 2 workers',
        'node:cluster, 2 workers',
        'ours: dispatcher, 2 workers',
      ]);
      expect(
        r.ratios['TCP CPU per connection of the acceptor, ours / base build (median of per-run ratios)'],
      ).toBeGreaterThan(0);
      for (const t of Object.values(r.tcpHandoffs)) {
        expect(t.done).toBeGreaterThan(0);
        expect(t.totalUsPerConn).toBeGreaterThanOrEqual(t.acceptorUsPerConn);
      }
      expect(r.latency!.perRun).toHaveLength(r.latency!.runs);
      for (const run of r.latency!.perRun)
        for (const v of [run.direct.p50, run.direct.p99, run.dispatcher.p50, run.dispatcher.p99])
          expect(v).toBeGreaterThan(0);
      expect(Number.isFinite(r.latency!.addedP50Us)).toBe(true);
      expect(r.cpu!.successful).toBeGreaterThan(0);
      expect(r.cpu!.primaryUs).toBeGreaterThanOrEqual(0);
      expect(r.cpu!.kamailioUs).toBeUndefined();
      expect(r.overload!.offered).toBe(2 * r.overload!.capacity);
      // no call-rate search in this run: the report must say the capacity was assumed, not measured
      expect(r.overload!.capacitySource).toMatch(/^assumed/);
      expect(r.overload!.successful + r.overload!.failed).toBeGreaterThan(0);
      expect(r.overload!.offerS).toBeGreaterThan(0);
      expect(r.overload!.elapsedS).toBeGreaterThanOrEqual(r.overload!.offerS * 0.5);
      const md = fs.readFileSync(path.join(dir, 'host-dispatcher.md'), 'utf8');
      for (const heading of [
        '## TCP hand-offs per second',
        '## Latency added per datagram',
        '## CPU time per call',
        '## Goodput at twice the capacity',
        '## Ratios',
      ])
        expect(md).toContain(heading);
      expect(md).not.toContain('## Highest error-free call rate');
      expect(md).toContain('| **median** |');
    } finally {
      delete process.env['BENCH_DISPATCHER_BASE_MAIN'];
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
