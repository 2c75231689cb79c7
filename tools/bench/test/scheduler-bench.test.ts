import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { schedulerBenchMain } from '../src/scheduler-bench.js';

interface Report {
  command: string;
  settings: { mode: string; quick: boolean };
  redisBenchmark: { getPerS: number; setPerS: number };
  rows: {
    backend: string;
    variant: string;
    schedulers: number;
    partitions: number;
    validRuns: number;
    placementsPerS: number;
    p99Ms: number;
    redisCpuUsPerPlacement: number;
    schedulerCpuUsPerPlacement: number;
    schedulerNetCpuUsPerPlacement: number;
    schedulerIdleCpuMsPerS: number;
    impliedCeilingPerS: number;
  }[];
  costRows: { step: string; calls: number; redisCpuUsPerPlacement: number; nodeCpuUsPerPlacement: number }[];
  failovers: { backend: string; onKilled: number; moveMs: number; boundMs: number }[];
  steadyRows: {
    schedulers: number;
    partitions: number;
    offered: number;
    placed: number;
    p50Ms: number;
    p99Ms: number;
  }[];
}

describe('scheduler bench --quick (smoke: well-formed output, not speed)', () => {
  it('runs a burst, a steady, a failover and a cost run on real processes (with and without region partitions) and writes scheduler.json and scheduler.md', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scheduler-bench-'));
    try {
      const argv = ['--quick', '--mode', 'both,failover,cost', '--region-partitions', '0,2', '--out', dir];
      expect(await schedulerBenchMain(argv)).toBe(0);
      const report = JSON.parse(fs.readFileSync(path.join(dir, 'scheduler.json'), 'utf8')) as Report;
      expect(report.command).toBe(`node tools/bench/dist/main.js scheduler ${argv.join(' ')}`);
      expect(report.settings).toMatchObject({ mode: 'both,failover,cost', quick: true });
      expect(report.redisBenchmark.getPerS).toBeGreaterThan(0);
      expect(report.rows).toHaveLength(2);
      expect(report.rows[0]).toMatchObject({
        backend: 'single',
        variant: 'publish',
        schedulers: 1,
        partitions: 0,
      });
      // the partitioned row: every conference (spread over 2 regions' partitions) placed and read back
      expect(report.rows[1]).toMatchObject({ partitions: 2, validRuns: 1 });
      expect(report.rows[1]!.placementsPerS).toBeGreaterThan(0);
      // CPU per placement is measured (Redis and the scheduler processes did some work) and implies a ceiling
      expect(report.rows[0]!.redisCpuUsPerPlacement).toBeGreaterThan(0);
      // (the schedulers' figure has 10 ms resolution: a short quick burst on an idle machine may read 0)
      expect(report.rows[0]!.schedulerCpuUsPerPlacement).toBeGreaterThanOrEqual(0);
      // the idle rate is a rate (>= 0); the net figure is gross less idle × drain, finite (it may be < 0 when noisy)
      expect(report.rows[0]!.schedulerIdleCpuMsPerS).toBeGreaterThanOrEqual(0);
      expect(Number.isFinite(report.rows[0]!.schedulerNetCpuUsPerPlacement)).toBe(true);
      expect(report.rows[0]!.impliedCeilingPerS).toBeGreaterThan(0);
      // cost mode: each step of a placement, measured alone
      expect(report.costRows.map((c) => c.step.split(' ')[0])).toEqual(['CREATE', 'CLAIM', 'PLACE', 'feed']);
      for (const c of report.costRows) expect(c.redisCpuUsPerPlacement).toBeGreaterThan(0);
      // the killed agent held conferences, and they all moved (the time is a figure, not checked)
      expect(report.failovers).toHaveLength(1);
      expect(report.failovers[0]!.onKilled).toBeGreaterThan(0);
      expect(report.failovers[0]!.moveMs).toBeGreaterThan(0);
      expect(report.steadyRows.map((r) => r.partitions)).toEqual([0, 2]);
      for (const st of report.steadyRows) {
        expect(st.placed).toBe(st.offered);
        expect(st.p99Ms).toBeGreaterThanOrEqual(st.p50Ms);
      }
      const md = fs.readFileSync(path.join(dir, 'scheduler.md'), 'utf8');
      expect(md).toContain('# Scheduler placement benchmark');
      expect(md).toContain('## Steady rate: latency from due to placed');
      expect(md).toContain('## Failover: a conference server killed');
      expect(md).toContain('### CPU per placement (what does not depend on the load)');
      expect(md).toContain('### The steps alone (`--mode cost`)');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
