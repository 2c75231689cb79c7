/**
 * The pure parts of NetnsPop (C13): rendering the per-host env file (C12) and summing a metric's samples. The
 * namespace POP itself runs in the pop-router's namespace test, the pop benchmarks and the --netns stack test.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { findPopHostEnv, isLaunchError, NETNS_POP_DEFAULTS, renderEnvFile, sumMetric } from '../src/index.js';

describe('renderEnvFile', () => {
  it('substitutes placeholders, skips comments and blank lines, keeps = inside values', () => {
    const text = '# comment ${NOT_A_KEY}\n\nA=${HOST_ID}-x\nB=url=http://${HOST_ADDR}:1\n';
    expect(renderEnvFile(text, { HOST_ID: 'h1', HOST_ADDR: '198.18.1.11' })).toEqual({
      A: 'h1-x',
      B: 'url=http://198.18.1.11:1',
    });
  });

  it('a placeholder without a value is an error naming it (never rendered as text)', () => {
    let err: unknown;
    try {
      renderEnvFile('A=${VIP}\n', {});
    } catch (e) {
      err = e;
    }
    expect(isLaunchError(err, 'LNC_ERR_NETNS')).toBe(true);
    expect((err as Error).message).toMatch(/VIP/);
  });

  it('a line that is not KEY=value is refused', () => {
    expect(() => renderEnvFile('just words\n', {})).toThrow(/not KEY=value/);
  });

  it("renders the repository's pop-host.env with every placeholder NetnsPop fills", () => {
    const env = renderEnvFile(fs.readFileSync(findPopHostEnv(), 'utf8'), {
      HOST_ID: 'popns-h1',
      HOST_ADDR: '198.18.1.11',
      VIP: NETNS_POP_DEFAULTS.vip,
      INNER_ADDR: NETNS_POP_DEFAULTS.inner,
      POP_PEERS: '198.18.1.12:7946',
      KEYRING_FILE: '/k',
      TOKEN_FILE: '/t',
    });
    expect(env['POPR_ID']).toBe('popns-h1');
    expect(env['SIPDISP_LISTEN']).toBe(`${NETNS_POP_DEFAULTS.vip}:5060,198.18.1.11:5060`);
    expect(env['SIPDISP_RUNTIME_DIR']).toBe('/run/switchyard/popns-h1/dispatcher');
  });
});

describe('sumMetric', () => {
  const text = [
    '# HELP x_total x',
    'x_total{event="forwarded"} 3',
    'x_total{event="handled"} 4',
    'x_total_other 100',
    'x_total 5',
  ].join('\n');
  it('sums the samples of one metric name (not of names it prefixes), optionally by label text', () => {
    expect(sumMetric(text, 'x_total')).toBe(12);
    expect(sumMetric(text, 'x_total', 'event="forwarded"')).toBe(3);
    expect(sumMetric(text, 'absent')).toBe(0);
  });
});
