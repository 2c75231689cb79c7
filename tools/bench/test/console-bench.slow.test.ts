/**
 * Smoke run of the console benchmark (`--quick`: 100 hosts, 2,000 sessions, one page load in Debian's Chromium):
 * checks that it measures what it says and prints a well-formed result, not how fast it is.
 */
import { describe, expect, it } from 'vitest';
import { consoleBenchMain, type ConsoleBenchResult } from '../src/console-bench.js';

describe('console bench --quick', () => {
  it('renders the hosts and sessions in Chromium and prints every figure', async () => {
    let out = '';
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string | Uint8Array) => {
      out += String(chunk);
      return true;
    }) as typeof process.stdout.write;
    let code: number;
    try {
      code = await consoleBenchMain(['--quick']);
    } finally {
      process.stdout.write = write;
    }
    expect(code).toBe(0);
    const r = JSON.parse(out) as ConsoleBenchResult;
    expect(r).toMatchObject({ hosts: 100, sessions: 2000, routers: 2, runs: 1 });
    for (const f of [r.firstRenderMs, r.pageLoadMs, r.pageLoadCpuMs, r.patchRenderMs, r.scrollMs]) {
      expect(f.n).toBe(1);
      expect(f.p50).toBeGreaterThan(0);
      expect(f.max).toBeGreaterThanOrEqual(f.p50);
    }
    // page load includes the first render; the stream does not carry every session; the table is virtualised
    expect(r.pageLoadMs.p50).toBeGreaterThanOrEqual(r.firstRenderMs.p50);
    expect(r.snapshotBytes).toBeLessThan(r.sessions * 40);
    // one changed host travels as a delta of that row, not as the 100-host section
    expect(r.hostPatchBytes.n).toBe(1);
    expect(r.hostPatchBytes.p50).toBeGreaterThan(50);
    expect(r.hostPatchBytes.p50).toBeLessThan(r.snapshotBytes / 10);
    expect(r.domRowsRendered).toBeGreaterThan(0);
    expect(r.domRowsRendered).toBeLessThan(200);
    expect(r.loadAverage).toHaveLength(3);
    expect(r.command).toBe('node tools/bench/dist/main.js console --quick');
  }, 300_000);
});
