import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listNamespaces, NetnsLab } from '@switchyard/launch';
import { describe, expect, it } from 'vitest';
import {
  CALL_SCENARIOS,
  errorFreeRate,
  parsePopCallsOptions,
  popCalls,
  sippFailureCauses,
  SUBCOMMANDS,
  type PopCallsSummary,
} from '../src/index.js';

// needs root (network namespaces), SIPp and the built pop-router and host-dispatcher; CI runs as root
const netns = await NetnsLab.available();
if (!netns) console.warn('pop-calls --quick skipped: network namespaces need root');

describe('pop-calls', () => {
  it('is a subcommand; parses flags with defaults and rejects bad values', () => {
    expect(SUBCOMMANDS['pop-calls']).toBe(popCalls);
    expect(parsePopCallsOptions([])).toMatchObject({
      runs: 3,
      rates: [25, 50, 100],
      seconds: 8,
      tcpConns: 24,
      gossipProfile: 'lan',
    });
    expect(parsePopCallsOptions(['--gossip-profile', 'test'])).toMatchObject({ gossipProfile: 'test' });
    expect(() => parsePopCallsOptions(['--gossip-profile', 'wan'])).toThrow(/gossip-profile/);
    expect(parsePopCallsOptions(['--quick'])).toMatchObject({
      runs: 1,
      rates: [10],
      seconds: 2,
      tcpConns: 6,
    });
    expect(parsePopCallsOptions(['--rates', '5,7'])).toMatchObject({ rates: [5, 7] });
    expect(() => parsePopCallsOptions(['--rates', '5,x'])).toThrow(/rates/);
  });

  it("SIPp's aborted calls are counted by what they waited for and what they got", () => {
    const log =
      "01:29:22.917483: Aborting call on unexpected message for Call-Id '113-1@198.18.0.2': while pausing (index 6), " +
      "received 'SIP/2.0 100 Trying\nVia: SIP/2.0/UDP 198.18.0.2:37569\n'" +
      "01:36:40.799321: Aborting call on unexpected message for Call-Id '117-1@198.18.0.2': while expecting '200' " +
      "(index 8), received 'SIP/2.0 481 Call/Transaction Does Not Exist\r\nVia: x\r\n'" +
      "01:36:41.000000: Aborting call on unexpected message for Call-Id '118-1@198.18.0.2': while expecting '200' " +
      "(index 8), received 'SIP/2.0 481 Call/Transaction Does Not Exist\r\n'";
    expect(sippFailureCauses(log)).toEqual({
      'while pausing (index 6): SIP/2.0 100 Trying': 1,
      "while expecting '200' (index 8): SIP/2.0 481 Call/Transaction Does Not Exist": 2,
    });
    expect(sippFailureCauses('no calls aborted')).toEqual({});
  });

  it('the error-free rate is the highest offered rate with 0 failed calls in every run', () => {
    const s = (rate: number, failed: number): PopCallsSummary => ({
      scenario: 'stable',
      rate,
      medianCallsPerS: rate,
      failed,
      forwarded: 0,
      violations: 0,
    });
    expect(errorFreeRate([s(25, 0), s(50, 0), s(100, 3)], 'stable')).toBe(50);
    expect(errorFreeRate([s(25, 1)], 'stable')).toBe(0);
    expect(errorFreeRate([s(25, 0)], 'nexthop-removed')).toBe(0);
  });

  it.runIf(netns)(
    '--quick runs both scenarios and the TCP measurement through a real namespace POP; the report is well formed',
    async () => {
      const out = fs.mkdtempSync(path.join(os.tmpdir(), 'pop-calls-'));
      try {
        expect(await popCalls.run(['--quick', '--out', out])).toBe(0);
        const json = JSON.parse(fs.readFileSync(path.join(out, 'pop-router-calls.json'), 'utf8')) as {
          results: Array<{
            scenario: string;
            calls: number;
            successful: number;
            failed: number;
            extraDialogs: number;
            causes: Record<string, number>;
          }>;
          tcp: { connections: number; before: number; answered: number; reset: number; silent: number };
        };
        expect(json.results.map((r) => r.scenario).sort()).toEqual([...CALL_SCENARIOS].sort());
        for (const r of json.results) {
          // every call ended one way or the other, and calls went through (not their rate: a smoke run)
          expect(r.successful + r.failed).toBe(r.calls);
          expect(r.successful).toBeGreaterThan(0);
          expect(Number.isInteger(r.extraDialogs)).toBe(true);
          expect(typeof r.causes).toBe('object');
        }
        // every TCP connection was answered before the change and ended in exactly one outcome after it
        expect(json.tcp.before).toBe(json.tcp.connections);
        expect(json.tcp.answered + json.tcp.reset + json.tcp.silent).toBe(json.tcp.connections);
        const md = fs.readFileSync(path.join(out, 'pop-router-calls.md'), 'utf8');
        expect(md).toMatch(/^# POP call rate/);
        expect(md).toMatch(/^Command: `node tools\/bench\/dist\/main\.js pop-calls --quick/m);
        expect(md).toMatch(/^Load average at the end \(1\/5\/15 min\): [0-9.]+ \/ /m);
        expect(md).toMatch(/^- stable routes: \*\*[0-9]+ calls\/s\*\*/m);
        expect(md).toMatch(/\| nexthop-removed \| 10 \| [0-9.]+ \| [0-9]+ \|/);
        expect(md).toMatch(/^## Why calls failed$/m);
        expect(md).toMatch(/Gossip timers: `lan` profile/);
        expect((await listNamespaces()).filter((n) => n.startsWith('popns-calls-'))).toEqual([]);
      } finally {
        fs.rmSync(out, { recursive: true, force: true });
      }
    },
    600_000,
  );
});
