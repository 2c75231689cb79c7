import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main, registryBenchMain, type RegistryBenchReport } from '../src/index.js';

describe('registry bench', () => {
  it('runs ours and the raw-ioredis baseline side by side and writes JSON and markdown (tiny run)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'registry-bench-'));
    try {
      let printed = '';
      const argv = [
        '--n',
        '100',
        '--concurrency',
        '5',
        '--runs',
        '2',
        '--latency-samples',
        '5',
        '--out-dir',
        dir,
      ];
      expect(await registryBenchMain(argv, (s) => (printed += s))).toBe(0);
      expect(printed).toContain('| baseline: raw ioredis pipelines |');
      const report = JSON.parse(
        fs.readFileSync(path.join(dir, 'registry.json'), 'utf8'),
      ) as RegistryBenchReport;
      expect(report.command).toBe(`node tools/bench/dist/main.js registry ${argv.join(' ')}`);
      expect(report.runs).toHaveLength(2);
      for (const op of ['put', 'renew', 'update', 'get'] as const) {
        expect(report.redis.ours[op]).toBeGreaterThan(0);
        expect(report.redis.baseline[op]).toBeGreaterThan(0);
        expect(report.redis.ratios[op]).toBeCloseTo(report.redis.ours[op] / report.redis.baseline[op], 1);
        expect(report.memory[op]).toBeGreaterThan(0);
      }
      for (const l of Object.values(report.latency)) {
        expect(l.samples).toBe(10);
        expect(l.p99Ms).toBeGreaterThanOrEqual(l.p50Ms);
        expect(l.p50Ms).toBeGreaterThan(0);
      }
      expect(report.machine.loadAverage).toHaveLength(3);
      const md = fs.readFileSync(path.join(dir, 'registry.md'), 'utf8');
      expect(md).toContain(report.command);
      expect(md).toMatch(/Load average when it ended: /);
      expect(md).toMatch(/\| ratio ours \/ baseline \| [\d.]+x \|/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('is a subcommand of the runner; rejects bad flags and answers --help', async () => {
    let printed = '';
    expect(await registryBenchMain(['--runs', '0'], (s) => (printed += s))).toBe(2);
    expect(printed).toContain('--runs must be an integer');
    expect(await registryBenchMain(['--help'], (s) => (printed += s))).toBe(0);
    expect(printed).toContain('--latency-samples');
    const write = process.stdout.write;
    let listed = '';
    process.stdout.write = ((s: string) => ((listed += s), true)) as typeof process.stdout.write;
    try {
      expect(await main(['--help'])).toBe(0);
    } finally {
      process.stdout.write = write;
    }
    expect(listed).toMatch(/^ {2}registry +Redis store ops\/s vs raw ioredis/m);
  });
});
