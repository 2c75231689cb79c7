import { describe, expect, it } from 'vitest';
import {
  measureCluster,
  parseOptions,
  renderReport,
  renderSvg,
  SUBCOMMANDS,
  usage,
  type PointResult,
} from '../src/index.js';

describe('bench main', () => {
  it('lists its subcommands', () => {
    expect(Object.keys(SUBCOMMANDS)).toContain('gossip-convergence');
    expect(usage()).toMatch(/gossip-convergence/);
  });
});

describe('gossip-convergence', () => {
  it('parses flags with defaults and rejects bad values', () => {
    expect(parseOptions([])).toMatchObject({
      sizes: [10, 20, 50, 100, 200, 500, 1000],
      losses: [0, 0.05, 0.2],
      runs: 2,
      events: 5,
    });
    expect(parseOptions(['--sizes', '10,30', '--loss', '0.1', '--multicast'])).toMatchObject({
      sizes: [10, 30],
      losses: [0.1],
      multicast: true,
    });
    expect(parseOptions(['--help'])).toHaveProperty('help');
    expect(() => parseOptions(['--loss', '1.5'])).toThrow(/loss/);
    expect(() => parseOptions(['--sizes', 'x'])).toThrow(/sizes/);
  });

  it('measures a small cluster: ours reaches everyone within one round without loss, and costs bytes', async () => {
    const res = await measureCluster(12, 'ours', { losses: [0], events: 2, multicast: false }, 3);
    const samples = res.get(0)!;
    expect(samples).toHaveLength(2);
    for (const s of samples) {
      expect(s.ms).not.toBeNull();
      expect(s.ms!).toBeLessThan(1000);
      expect(s.bytes).toBeGreaterThan(0);
      // the immediate send: at least one datagram per member
      expect(s.datagrams).toBeGreaterThanOrEqual((12 - 1) / 12);
    }
  });

  it('renders a report with the log(N) reference line', () => {
    const pts: PointResult[] = [10, 100].flatMap((n) =>
      (['ours', 'classic'] as const).map((mode) => ({
        n,
        loss: 0,
        mode,
        samples: 1,
        unconverged: 0,
        medianRounds: mode === 'ours' ? 0.01 : 0.2,
        maxRounds: 0.3,
        medianMs: 10,
        bytesPerEventPerMember: 500,
        datagramsPerEventPerMember: 8,
      })),
    );
    const { svg, md } = renderReport(
      pts,
      { sizes: [10, 100], losses: [0], runs: 1, events: 1, seed: 1, multicast: false, out: '' },
      'cmd',
    );
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('log10 N (reference)');
    expect(md).toContain('| 100 | 0% | 0.010 / 0.30 | 0.200 / 0.30 | 20.0 | 2.00 |');
    expect(renderSvg([], '')).toContain('</svg>');
  });
});
