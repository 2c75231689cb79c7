/**
 * Traffic rates from the tiers' own counters: the Prometheus text (written here by prom-client, the library the
 * tiers use, under the tiers' metric names) is read, rates per second are taken between two reads, and the
 * state sums them per link.
 */
import { describe, expect, it } from 'vitest';
import { Counter, Registry } from 'prom-client';
import { readSamples } from '../src/traffic/prom-text.js';
import { countsOf, ratesBetween } from '../src/traffic/counters.js';
import { ConsoleState } from '../src/state/console-state.js';

const BAL = 'http://127.0.14.1:2';
const DISP = 'http://127.0.14.1:3';

function balancerMetrics() {
  const registry = new Registry();
  const requests = new Counter({
    name: 'balancer_requests_total',
    help: 'requests routed (proxied and allocations) by service and outcome (ok, error)',
    labelNames: ['service', 'outcome'] as const,
    registers: [registry],
  });
  return { registry, requests };
}

describe('prom-text', () => {
  it('reads the samples of the named metrics, with labels (escaped quotes too), and skips the rest', () => {
    const text = [
      '# HELP x_total a counter',
      '# TYPE x_total counter',
      'x_total{a="1",b="say \\"hi\\""} 3',
      'x_total 4 1700000000000',
      'y_total 9',
      'x_total{broken 5',
      'x_total NaNish',
      '',
    ].join('\n');
    const m = readSamples(text, ['x_total', 'z_total']);
    expect(m.get('x_total')).toEqual([
      { labels: { a: '1', b: 'say "hi"' }, value: 3 },
      { labels: {}, value: 4 },
    ]);
    expect(m.get('z_total')).toEqual([]);
    expect(m.has('y_total')).toBe(false);
  });
});

describe('traffic counters', () => {
  it("reads the balancer's requests per service (summed over outcomes) from prom-client's text", async () => {
    const { registry, requests } = balancerMetrics();
    requests.inc({ service: 'mixer', outcome: 'ok' }, 7);
    requests.inc({ service: 'mixer', outcome: 'error' }, 1);
    requests.inc({ service: 'recorder', outcome: 'ok' }, 2);
    expect(countsOf('balancer', await registry.metrics())).toEqual({
      'requests:mixer': 8,
      'requests:recorder': 2,
    });
  });

  it('takes rates per second between two reads; a counter that went down was reset and counts from 0', () => {
    expect(
      ratesBetween({ at: 1000, counts: { a: 10, b: 50 } }, { at: 3000, counts: { a: 30, b: 4, c: 1 } }),
    ).toEqual({ a: 10, b: 2, c: 0.5 });
    expect(ratesBetween({ at: 1000, counts: { a: 1 } }, { at: 1000, counts: { a: 2 } })).toEqual({});
  });

  it('the state shows a rate per process and per link from the second read on, and drops it when the process is down', async () => {
    const s = new ConsoleState([
      { tier: 'balancer', url: BAL },
      { tier: 'dispatcher', url: DISP },
    ]);
    s.take(0);
    const { registry, requests } = balancerMetrics();
    s.metricsOk('balancer', BAL, await registry.metrics(), 1000);
    s.metricsOk(
      'dispatcher',
      DISP,
      'sipdisp_datagrams_total 100\nsipdisp_forwarded_total{worker="w1"} 90\n',
      1000,
    );
    expect(s.changed).toBe(false); // one read is no rate yet
    requests.inc({ service: 'mixer', outcome: 'ok' }, 30);
    s.metricsOk('balancer', BAL, await registry.metrics(), 2000);
    s.metricsOk(
      'dispatcher',
      DISP,
      'sipdisp_datagrams_total 150\nsipdisp_forwarded_total{worker="w1"} 100\nsipdisp_forwarded_total{worker="w2"} 30\n',
      3000,
    );
    const rates = s.take(3000).sections.rates!;
    expect(rates.links).toEqual({
      placementsPerS: 0,
      forwardsPerS: 0,
      datagramsPerS: 25,
      toWorkersPerS: 20,
      requestsPerS: { mixer: 30 },
    });
    expect(rates.traffic).toEqual([
      { tier: 'balancer', url: BAL, perS: { 'requests:mixer': 30 } },
      { tier: 'dispatcher', url: DISP, perS: { datagrams: 25, toWorkers: 20 } },
    ]);
    // the same counters again: the rates fall to 0 (no traffic), which is a change to push
    s.metricsOk('balancer', BAL, await registry.metrics(), 3000);
    expect(s.take(3000).sections.rates!.links.requestsPerS).toEqual({ mixer: 0 });
    s.pollFailed('balancer', BAL, 'ECONNREFUSED');
    expect(s.take(3100).sections.rates!.traffic.map((t) => t.tier)).toEqual(['dispatcher']);
  });
});
