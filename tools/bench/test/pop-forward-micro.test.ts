/** Smoke test of `pop-forward-micro` in quick mode: it forwards through the built PopIngress and reports well-formed. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  parsePopForwardMicroOptions,
  popForwardMicro,
  runPopForwardMicro,
  SUBCOMMANDS,
} from '../src/index.js';

describe('pop-forward-micro', () => {
  it('is a subcommand; --quick is small', () => {
    expect(SUBCOMMANDS['pop-forward-micro']).toBe(popForwardMicro);
    expect(parsePopForwardMicroOptions(['--quick'])).toMatchObject({
      rounds: 2,
      datagrams: 500,
      baseline: '',
    });
  });

  it('a quick run forwards every datagram to the sink and writes a well-formed report', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'pop-forward-micro-'));
    try {
      const results = await runPopForwardMicro(
        { rounds: 1, datagrams: 300, baseline: '', out },
        'node tools/bench/dist/main.js pop-forward-micro --quick',
      );
      expect(results.map((r) => r.variant).sort()).toEqual(['send-only', 'this build']);
      for (const r of results) {
        expect(r.cpuUsPerDatagram).toBeGreaterThan(0);
        // the datagrams really left (UDP on loopback: the sink may miss a few under load, never most)
        expect(r.received).toBeGreaterThan(r.datagrams / 2);
      }
      const md = fs.readFileSync(path.join(out, 'pop-router-forward-micro.md'), 'utf8');
      expect(md).toMatch(/^# POP forward, user-space half/);
      expect(md).toMatch(/^Command: `node tools\/bench\/dist\/main\.js pop-forward-micro --quick`/m);
      expect(md).toMatch(/load average at the end \(1\/5\/15 min\): [0-9.]+ \//);
      expect(md).toMatch(/^\| this build \| [0-9.]+ \| [0-9.]+ \|$/m);
      expect(md).toMatch(/^\| send-only \| [0-9.]+ \| 1\.00 \|$/m);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  }, 60_000);
});
