import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { extractSipKeys } from '@switchyard/affinity';
import { describe, expect, it } from 'vitest';
import { affinityMicroMain, COMPACT_INVITE, REAL_INVITE } from '../src/index.js';

describe('affinity-micro', () => {
  it('benchmarks messages that carry the same keys in long and compact form', () => {
    const a = extractSipKeys(Buffer.from(REAL_INVITE, 'latin1'));
    const b = extractSipKeys(Buffer.from(COMPACT_INVITE, 'latin1'));
    expect(a.ok && b.ok).toBe(true);
    if (a.ok && b.ok) expect(b.keys).toEqual(a.keys);
    expect(COMPACT_INVITE).toContain('\r\ni: ');
  });

  it('prints a table and writes JSON and markdown with the command (short run)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aff-micro-'));
    let printed = '';
    const code = affinityMicroMain(['--runs', '1', '--ms', '10', '--out-dir', dir], (s) => (printed += s));
    expect(code).toBe(0);
    expect(printed).toContain('| extractSipKeys, INVITE (long names) |');
    const report = JSON.parse(fs.readFileSync(path.join(dir, 'affinity-micro.json'), 'utf8')) as {
      command: string;
      cases: Array<{ name: string; opsPerSec: number }>;
    };
    expect(report.cases).toHaveLength(8);
    for (const c of report.cases) expect(c.opsPerSec).toBeGreaterThan(0);
    expect(report.command).toContain('affinity-micro --runs 1 --ms 10');
    expect(fs.readFileSync(path.join(dir, 'affinity-micro.md'), 'utf8')).toMatch(
      /Load average when it ended: [\d.]+ \/ [\d.]+ \/ [\d.]+ \(above 0.5, other work shared the cores\)/,
    );
    fs.rmSync(dir, { recursive: true });
  });

  it('rejects bad flags and answers --help', () => {
    let printed = '';
    expect(affinityMicroMain(['--runs', '0'], (s) => (printed += s))).toBe(2);
    expect(affinityMicroMain(['--help'], (s) => (printed += s))).toBe(0);
    expect(printed).toContain('--out-dir');
  });
});
