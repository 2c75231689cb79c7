/**
 * Smoke run of `bench balancer --quick` (real balancer, backends, HAProxy and wrk; one short run of each part):
 * checks that the report is well formed and complete, not how fast anything was.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { balancerBenchMain, type BalancerBenchResult } from '../src/balancer-bench.js';

const has = (bin: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

describe('bench balancer --quick', () => {
  it('writes a complete JSON and markdown report', { timeout: 300_000 }, async () => {
    expect(has('wrk') && has('haproxy'), 'wrk and haproxy must be installed (tools/setup)').toBe(true);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-balancer-'));
    try {
      expect(await balancerBenchMain(['--quick', '--out-dir', dir])).toBe(0);
      const r = JSON.parse(
        fs.readFileSync(path.join(dir, 'container-balancer.json'), 'utf8'),
      ) as BalancerBenchResult;
      expect(r.command).toBe(`node tools/bench/dist/main.js balancer --quick --out-dir ${dir}`);
      expect(r.loadAverage.end).toMatch(/^[\d.]+ [\d.]+ [\d.]+$/);
      for (const k of ['ours', 'haproxy', 'direct'] as const) {
        expect(r.throughput.runs[k]).toHaveLength(1);
        expect(r.throughput.medians[k].requests).toBeGreaterThan(0);
      }
      expect(r.throughput.medians.ours.cpuUsPerRequest).toBeGreaterThan(0);
      expect(r.throughput.medians.haproxy.cpuUsPerRequest).toBeGreaterThan(0);
      for (const k of ['ours', 'haproxy'] as const) {
        const m = r.throughput.medians[k];
        expect(m.userUsPerRequest).toBeGreaterThanOrEqual(0);
        expect(m.userUsPerRequest).toBeLessThanOrEqual(m.cpuUsPerRequest);
        expect(r.throughput.runs[k][0]!.load).toBeGreaterThanOrEqual(0); // the load next to each run's figure
      }
      expect(r.throughput.ratio).toBeGreaterThan(0);
      // ours again with --upstream-pipelining (the default depth), in every run
      expect(r.throughput.pipelined?.depth).toBe(16);
      expect(r.throughput.runs.pipelined).toHaveLength(1);
      expect(r.throughput.medians.pipelined!.requests).toBeGreaterThan(0);
      expect(r.throughput.medians.pipelined!.errors).toBe(0);
      expect(r.throughput.pipelined!.ratio).toBeGreaterThan(0);
      for (const q of [r.quality.ours, r.quality.haproxyLeastconn, r.quality.random]) {
        expect(q.avgInFlight).toHaveLength(r.quality.delaysMs.length);
        expect(q.served.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
        expect(q.maxOverMean).toBeGreaterThanOrEqual(1);
      }
      expect(r.selection.containers).toBe(1000);
      expect(r.selection.cases.map((c) => c.case)).toHaveLength(6);
      for (const c of r.selection.cases) expect(c.nsPerOp).toBeGreaterThan(0);
      const md = fs.readFileSync(path.join(dir, 'container-balancer.md'), 'utf8');
      expect(md).toContain(r.command);
      expect(md).toMatch(/load average\s+[\d.]+ [\d.]+ [\d.]+ at the start/);
      expect(md).toContain('`--upstream-pipelining 16`, own 2 backends |');
      for (const heading of ['## 1. Throughput', '## 2. Balance quality', '## 3. Selection cost'])
        expect(md).toContain(heading);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
