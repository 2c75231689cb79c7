/**
 * Smoke test of the dispatcher benchmark's `steering` section in `--quick` mode: real processes (one standalone
 * worker, the dispatcher with steering off and on); the report must be well formed. It checks the shape and that
 * steering was used, never the speed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dispatcherBenchMain, type DispatcherBenchReport } from '../src/index.js';

describe('dispatcher bench --quick --sections steering', () => {
  it('measures direct, steering off and steering on in every run and writes the section', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dispatcher-steering-'));
    try {
      expect(
        await dispatcherBenchMain(['--quick', '--no-kamailio', '--sections', 'steering', '--out', dir]),
      ).toBe(0);
      const r = JSON.parse(
        fs.readFileSync(path.join(dir, 'host-dispatcher.json'), 'utf8'),
      ) as DispatcherBenchReport;
      const s = r.steering!;
      expect(s.perRun).toHaveLength(s.runs);
      for (const run of s.perRun) {
        expect(Object.keys(run.bySetup).sort()).toEqual(['direct', 'steering off', 'steering on']);
        for (const v of Object.values(run.bySetup)) {
          expect(v.p50).toBeGreaterThan(0);
          expect(v.p99).toBeGreaterThanOrEqual(v.p50);
          expect(v.cpuUsPerRoundTrip).toBeGreaterThanOrEqual(0);
        }
        expect(run.load1).toBeGreaterThanOrEqual(0);
      }
      expect(Number.isFinite(s.added['steering on'].p50)).toBe(true);
      // one delegation per round-trip socket: the steering set-up was really steered
      expect(s.delegated).toBe(s.runs);
      expect(r.latency).toBeUndefined();
      const md = fs.readFileSync(path.join(dir, 'host-dispatcher.md'), 'utf8');
      expect(md).toContain('## Latency added per datagram with kernel steering');
      expect(md).toMatch(/\| steering on \| -?\d+ \| -?\d+ \|/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});
