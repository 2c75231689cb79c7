import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePopConvergenceOptions, popConvergence, SUBCOMMANDS } from '../src/index.js';

describe('pop-convergence', () => {
  it('is a subcommand; parses flags with defaults and rejects bad values', () => {
    expect(SUBCOMMANDS['pop-convergence']).toBe(popConvergence);
    expect(parsePopConvergenceOptions([])).toMatchObject({ events: 100, runs: 3, gapMs: 10 });
    expect(parsePopConvergenceOptions(['--quick'])).toMatchObject({ events: 20, runs: 1 });
    expect(() => parsePopConvergenceOptions(['--events', '0'])).toThrow(/events/);
  });

  it('--quick runs with real sockets and writes a well-formed report (not its speed)', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'pop-conv-'));
    try {
      expect(await popConvergence.run(['--quick', '--events', '6', '--out', out])).toBe(0);
      const json = JSON.parse(fs.readFileSync(path.join(out, 'pop-router-convergence.json'), 'utf8')) as {
        results: Array<{ mode: string; events: number; unconverged: number; p99Ms: number }>;
      };
      expect(json.results.map((r) => r.mode)).toEqual(['ours', 'classic']);
      for (const r of json.results) {
        expect(r.events).toBe(6);
        expect(r.unconverged).toBe(0);
        expect(r.p99Ms).toBeGreaterThan(0);
      }
      const md = fs.readFileSync(path.join(out, 'pop-router-convergence.md'), 'utf8');
      expect(md).toMatch(/^# POP ownership convergence/);
      expect(md).toMatch(/\| ours \| [0-9.]+ \| [0-9.]+ \| 0 \|/);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);
});
