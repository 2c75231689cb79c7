import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listNamespaces, NetnsLab } from '@switchyard/launch';
import { describe, expect, it } from 'vitest';
import {
  parsePopForwardOptions,
  popForward,
  processCpuNs,
  SETUPS,
  SUBCOMMANDS,
  summarizePopLatency,
  histogramPercentiles,
  type PopLatencyResult,
} from '../src/index.js';

// needs root (network namespaces) and the built pop-router and host-dispatcher; CI runs as root
const netns = await NetnsLab.available();

describe('pop-forward', () => {
  it('is a subcommand; parses flags with defaults and rejects bad values', () => {
    expect(SUBCOMMANDS['pop-forward']).toBe(popForward);
    expect(parsePopForwardOptions([])).toMatchObject({ runs: 9, loops: 4, requests: 5000, timeMs: 3000 });
    expect(parsePopForwardOptions(['--quick'])).toMatchObject({ runs: 1, loops: 2, requests: 200 });
    expect(() => parsePopForwardOptions(['--loops', '0'])).toThrow(/loops/);
    expect(parsePopForwardOptions([])).toMatchObject({ latencySamples: 2000, latencyTimeMs: 4000 });
    expect(parsePopForwardOptions(['--latency-samples', '0'])).toMatchObject({ latencySamples: 0 });
    expect(() => parsePopForwardOptions(['--latency-samples', '-3'])).toThrow(/latency-samples/);
  });

  it('reads percentiles from a histogram of 1 µs buckets', () => {
    // 10 datagrams: 1 at 3 µs, 8 at 5 µs, 1 at 40 µs
    const h = new Array<number>(64).fill(0);
    h[3] = 1;
    h[5] = 8;
    h[40] = 1;
    expect(histogramPercentiles(h)).toEqual({ datagrams: 10, p10Us: 3, p50Us: 5, p99Us: 40 });
    expect(histogramPercentiles(new Array<number>(8).fill(0))).toMatchObject({ datagrams: 0, p50Us: NaN });
    expect(parsePopForwardOptions(['--hop-stamps'])).toMatchObject({ hopStamps: true });
    expect(parsePopForwardOptions([])).toMatchObject({ hopStamps: false });
  });

  it('summarizes the latency phase by paired per-run differences, not by differences of medians', () => {
    const path = (p10: number, p50: number, p99: number, samples = 2000, lost = 0) => ({
      samples,
      lost,
      p10Us: p10,
      p50Us: p50,
      p99Us: p99,
    });
    // run 2 is a slow moment for both paths: paired, it adds what the other runs add
    const rs: PopLatencyResult[] = [
      {
        setup: 'vxlan-kdecap',
        run: 1,
        direct: path(90, 100, 300),
        forwarded: path(95, 110, 320),
        elapsedMs: 1,
        loadavg: 1,
      },
      {
        setup: 'vxlan-kdecap',
        run: 2,
        direct: path(190, 400, 900),
        forwarded: path(200, 412, 990, 1990, 1),
        elapsedMs: 1,
        loadavg: 1,
      },
      {
        setup: 'vxlan-kdecap',
        run: 3,
        direct: path(80, 120, 250),
        forwarded: path(84, 128, 240),
        elapsedMs: 1,
        loadavg: 1,
      },
      {
        setup: 'vxlan',
        run: 1,
        direct: path(90, 100, 300),
        forwarded: path(150, 200, 500),
        elapsedMs: 1,
        loadavg: 1,
      },
      // a run where one path got no answer is left out (no pair)
      {
        setup: 'vxlan',
        run: 2,
        direct: path(90, 100, 300),
        forwarded: path(NaN, NaN, NaN, 0, 5),
        elapsedMs: 1,
        loadavg: 1,
      },
    ];
    const [vx, vd] = summarizePopLatency(rs);
    expect(vd).toMatchObject({
      setup: 'vxlan-kdecap',
      runs: 3,
      samples: 2000,
      addedP50Us: 10,
      addedP10Us: 5,
    });
    expect(vd!.addedP50MinUs).toBe(8);
    expect(vd!.addedP50MaxUs).toBe(12);
    expect(vd!.addedP99Us).toBe(20);
    expect(vd!.direct.p50Us).toBe(120);
    expect(vd!.forwarded.lost).toBe(1);
    expect(vx).toMatchObject({ setup: 'vxlan', runs: 1, addedP50Us: 100 });
  });

  it("a process's CPU time grows while it works; a pid that is gone reads NaN", () => {
    const before = processCpuNs(process.pid);
    let x = 0;
    const until = Date.now() + 30;
    while (Date.now() < until) x += Math.sqrt(x + 1);
    expect(x).toBeGreaterThan(0);
    expect(processCpuNs(process.pid)).toBeGreaterThan(before);
    expect(processCpuNs(2 ** 30)).toBeNaN();
  });

  it.runIf(netns)(
    '--quick runs every set-up through real namespaces and writes a well-formed report (not its speed)',
    async () => {
      const out = fs.mkdtempSync(path.join(os.tmpdir(), 'pop-fwd-'));
      try {
        expect(
          await popForward.run([
            '--quick',
            '--requests',
            '20',
            '--latency-samples',
            '20',
            '--hop-stamps',
            '--out',
            out,
          ]),
        ).toBe(0);
        const json = JSON.parse(fs.readFileSync(path.join(out, 'pop-router-forwarding.json'), 'utf8')) as {
          results: Array<{
            setup: string;
            roundTrips: number;
            lost: number;
            p10Us: number;
            p50Us: number;
            forwarderCpuUs: number | null;
            forwarderUserCpuUs: number | null;
            ownerCpuUs: number;
          }>;
          summary: Array<{ setup: string; ratioToDirect: number }>;
          forwarded: { v: number; u: number };
          tunnel: Record<string, number>;
        };
        expect(json.results.map((r) => r.setup).sort()).toEqual([...SETUPS].sort());
        for (const r of json.results) {
          // every set-up is a working path: answers came back through it (bounded by count and time)
          expect(r.roundTrips + r.lost).toBeLessThanOrEqual(2 * 20);
          expect(r.roundTrips).toBeGreaterThan(0);
          expect(r.p50Us).toBeGreaterThan(0);
          expect(r.p10Us).toBeGreaterThan(0);
          expect(r.p10Us).toBeLessThanOrEqual(r.p50Us);
          // CPU per round trip was read from the processes on the path (none forwards in direct: null in JSON)
          // (a finite number: net of the idle estimate, a 20-request quick run at load 20+ can come out below 0 —
          // seen once: -1,869 µs, when the idle sample caught a burst of the owner's background work)
          expect(Number.isFinite(r.ownerCpuUs), `${r.setup} owner CPU read`).toBe(true);
          if (r.setup === 'direct') expect(r.forwarderCpuUs).toBeNull();
          else expect(r.forwarderCpuUs).toBeGreaterThan(0);
          // its user-mode part: read too (10 ms ticks: may be 0 in a short run)
          if (r.setup === 'direct') expect(r.forwarderUserCpuUs).toBeNull();
          else expect(r.forwarderUserCpuUs).toBeGreaterThanOrEqual(0);
        }
        // the wrong hosts really forwarded (not answered themselves): every round trip answered through the VIP
        // went through the tunnel (a quick run under CI load may hit its time bound before all 2 × 20 requests, so
        // the bound is what was answered, not what was planned)
        const answered = (setup: string) => json.results.find((r) => r.setup === setup)!.roundTrips;
        expect(json.forwarded.v).toBeGreaterThanOrEqual(answered('vxlan'));
        expect(json.forwarded.u).toBeGreaterThanOrEqual(answered('udp'));
        // and the owners received them through the tunnel: v1's kernel decapsulated, u1's router injected
        expect(json.tunnel['sipdisp_decapsulated_total (v1)']).toBeGreaterThanOrEqual(answered('vxlan'));
        expect(json.tunnel['pop_tunnel_injected_total']).toBeGreaterThanOrEqual(answered('udp'));
        // with --kernel-decap d1's tc program took every forwarded datagram before its vx0 (none went through it)
        expect(json.tunnel['sipdisp_decapsulated_total (d1)']).toBeGreaterThanOrEqual(
          answered('vxlan-kdecap'),
        );
        expect(json.tunnel['vx0 rx packets (d1)']).toBe(0);
        expect(json.summary.find((s) => s.setup === 'direct')?.ratioToDirect).toBe(1);
        const md = fs.readFileSync(path.join(out, 'pop-router-forwarding.md'), 'utf8');
        expect(md).toMatch(/^# POP forwarding/);
        expect(md).toMatch(/^Command: `node tools\/bench\/dist\/main\.js pop-forward --quick/m);
        expect(md).toMatch(/^Load average at the end \(1\/5\/15 min\): [0-9.]+ \/ /m);
        expect(md).toMatch(/\| vxlan \| [0-9]+ \| [0-9.]+ \| [0-9]+ \|/);
        expect(md).toMatch(/CPU per forwarded datagram on the wrong host/);
        expect(md).toMatch(/of which user mode: vxlan [0-9.n/a]+ µs vs relay/);
        expect(md).toMatch(/vxlan [0-9.]+ µs \(the\s+dispatcher's primary\) vs relay [0-9.]+ µs/);
        // the latency phase: every forwarded set-up measured with its owner directly, both paths answered
        const lat = JSON.parse(fs.readFileSync(path.join(out, 'pop-router-forwarding.json'), 'utf8')) as {
          latency: PopLatencyResult[];
        };
        expect(lat.latency.map((r) => r.setup).sort()).toEqual(SETUPS.filter((s) => s !== 'direct').sort());
        for (const r of lat.latency) {
          expect(r.direct.samples, `${r.setup} direct answered`).toBeGreaterThan(0);
          expect(r.forwarded.samples, `${r.setup} forwarded answered`).toBeGreaterThan(0);
          expect(r.direct.samples + r.direct.lost).toBeLessThanOrEqual(4 * 20 + 1);
          expect(r.forwarded.p10Us).toBeLessThanOrEqual(r.forwarded.p50Us);
        }
        expect(md).toMatch(/^## Latency phase \(unloaded/m);
        // --hop-stamps: d1 saw the direct path's datagrams plain and the forwarded ones as VXLAN, d2 the forwarded
        // ones plain (warm-up included, so at least what was answered)
        const hops = (
          JSON.parse(fs.readFileSync(path.join(out, 'pop-router-forwarding.json'), 'utf8')) as {
            hopStamps: { host: string; kind: string; datagrams: number; p50Us: number }[];
          }
        ).hopStamps;
        const hop = (host: string, kind: string) => hops.find((h) => h.host === host && h.kind === kind);
        const kdecap = lat.latency.find((r) => r.setup === 'vxlan-kdecap')!;
        expect(hop('popns-fwd-d1', 'sip')?.datagrams).toBeGreaterThanOrEqual(kdecap.direct.samples);
        expect(hop('popns-fwd-d1', 'vxlan')?.datagrams).toBeGreaterThanOrEqual(kdecap.forwarded.samples);
        expect(hop('popns-fwd-d2', 'sip')?.datagrams).toBeGreaterThanOrEqual(kdecap.forwarded.samples);
        expect(hop('popns-fwd-d2', 'vxlan')?.datagrams).toBe(0);
        expect(hop('popns-fwd-d1', 'vxlan')?.p50Us).toBeGreaterThanOrEqual(0);
        expect(md).toMatch(/^### Hop stamps/m);
        expect(md).toMatch(
          /^- vxlan-kdecap .*added p50 (met|NOT met) ≤ 30 µs: \*\*-?[0-9]+ µs\*\* unloaded.*under load \(2 loops\): -?[0-9]+ µs\.$/m,
        );
        expect((await listNamespaces()).filter((n) => n.startsWith('popns-fwd-'))).toEqual([]);
      } finally {
        fs.rmSync(out, { recursive: true, force: true });
      }
    },
    600_000,
  );
});
