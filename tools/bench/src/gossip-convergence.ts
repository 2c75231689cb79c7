/**
 * Gossip convergence benchmark (simulation): how many protocol rounds a new ownership event needs to reach every
 * member, versus cluster size N (10…1000) and link loss (0, 5, 20%), for ours (event sent to all at once, then
 * piggybacked λ·log N times) and the baseline, classic SWIM dissemination (piggyback and gossip only), alternating in
 * one run; with the log10(N) reference line, and the bytes sent per event per member.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseCli, type CliSpec } from '@switchyard/core';
import {
  Codec,
  createKeyring,
  eventToWire,
  GOSSIP_LAN_DEFAULTS,
  MsgType,
  SIMULATION_KEYRING,
  SimulatedCluster,
} from '@switchyard/gossip';
import { renderSvg, type Series } from './svg-plot.js';
import type { Subcommand } from './subcommand.js';

export type Mode = 'ours' | 'classic';

export interface ConvergenceOptions {
  sizes: number[];
  losses: number[];
  runs: number;
  events: number;
  seed: number;
  multicast: boolean;
  out: string;
}

export interface EventSample {
  ms: number | null;
  bytes: number;
  datagrams: number;
}

export interface PointResult {
  n: number;
  loss: number;
  mode: Mode;
  samples: number;
  /** Events that had not reached every member after 120 simulated seconds. */
  unconverged: number;
  medianRounds: number;
  maxRounds: number;
  medianMs: number;
  /** Bytes sent for the event (whole datagrams sent for it alone + its bytes in piggybacks) / N, median over events. */
  bytesPerEventPerMember: number;
  /** Datagrams sent for the event alone / N. */
  datagramsPerEventPerMember: number;
}

const ROUND = GOSSIP_LAN_DEFAULTS.probeIntervalMs;
const WINDOW = 5 * ROUND;
const codec = new Codec(createKeyring(SIMULATION_KEYRING), {
  maxDatagramBytes: 65_000,
  maxMessageAgeMs: 1e12,
});

const median = (a: number[]) => {
  if (!a.length) return NaN;
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Builds one cluster of `n` members and measures `events` claims at each loss rate. */
export async function measureCluster(
  n: number,
  mode: Mode,
  o: Pick<ConvergenceOptions, 'losses' | 'events' | 'multicast'>,
  seed: number,
  progress: (s: string) => void = () => undefined,
): Promise<Map<number, EventSample[]>> {
  const c = await SimulatedCluster.create({
    size: n,
    seed,
    multicast: o.multicast,
    config: { broadcastNewEvents: mode === 'ours' },
  });
  const joined = c.runUntil(() => c.membershipConverged(), 300 * ROUND, 500);
  if (joined === undefined) throw new Error(`cluster of ${n} did not converge on membership in 300 rounds`);
  c.advance(10 * ROUND);
  const out = new Map<number, EventSample[]>();
  for (const loss of o.losses) {
    c.network.setDefaultLink({ loss });
    c.advance(5 * ROUND);
    const samples: EventSample[] = [];
    for (let k = 0; k < o.events; k++) {
      progress(`n=${n} ${mode} loss=${loss * 100}% event ${k + 1}/${o.events}`);
      const owner = c.nodes[Math.floor(c.random() * n)]!;
      const session = `bench-${loss}-${k}`;
      const needle = Buffer.from(session);
      let bytes = 0;
      let datagrams = 0;
      // count what this event costs: a datagram sent for it alone counts whole, a piggybacked copy its own bytes
      c.network.tap = (_from, _to, b) => {
        const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
        if (buf.indexOf(needle) < 0) return;
        const r = codec.decode(buf, c.clock.now());
        if (!r.ok || !('events' in r.msg)) return;
        const ev = r.msg.events.find(
          (e) => (e.kind === 'claim' || e.kind === 'close') && e.session === session,
        );
        if (!ev) return;
        if (r.msg.type === MsgType.Gossip && r.msg.events.length === 1) {
          bytes += buf.length;
          datagrams++;
        } else {
          bytes += codec.sizeOf(eventToWire(ev));
        }
      };
      const t0 = c.clock.now();
      owner.claim(session, 1);
      const ms = c.runUntil(() => c.nodes.every((m) => m.owner(session)?.owner === owner.id), 120_000, 5);
      // every member stops carrying it after λ·log N transmissions: a few rounds
      const elapsed = c.clock.now() - t0;
      if (elapsed < WINDOW) c.advance(WINDOW - elapsed);
      c.network.tap = undefined;
      samples.push({ ms: ms ?? null, bytes: bytes / n, datagrams: datagrams / n });
    }
    out.set(loss, samples);
  }
  c.network.setDefaultLink({ loss: 0 });
  for (const node of c.nodes) await node.stop();
  return out;
}

export async function runConvergence(
  o: ConvergenceOptions,
  progress: (s: string) => void,
): Promise<PointResult[]> {
  const acc = new Map<string, EventSample[]>();
  for (const n of o.sizes) {
    for (let run = 0; run < o.runs; run++) {
      // alternate which side goes first, so machine-load drift does not favour one
      const order: Mode[] = run % 2 ? ['classic', 'ours'] : ['ours', 'classic'];
      for (const mode of order) {
        const res = await measureCluster(n, mode, o, o.seed + 1000 * run + n, (s) =>
          progress(`run ${run + 1}/${o.runs} ${s}`),
        );
        for (const [loss, samples] of res) {
          const key = `${n}|${loss}|${mode}`;
          acc.set(key, [...(acc.get(key) ?? []), ...samples]);
        }
      }
    }
  }
  const points: PointResult[] = [];
  for (const [key, samples] of acc) {
    const [n, loss, mode] = key.split('|');
    const done = samples.filter((s) => s.ms !== null).map((s) => s.ms!);
    points.push({
      n: Number(n),
      loss: Number(loss),
      mode: mode as Mode,
      samples: samples.length,
      unconverged: samples.length - done.length,
      medianRounds: median(done) / ROUND,
      maxRounds: Math.max(...done) / ROUND,
      medianMs: median(done),
      bytesPerEventPerMember: Math.round(median(samples.map((s) => s.bytes))),
      datagramsPerEventPerMember: Math.round(median(samples.map((s) => s.datagrams)) * 100) / 100,
    });
  }
  return points.sort((a, b) => a.n - b.n || a.loss - b.loss || a.mode.localeCompare(b.mode));
}

const COLORS: Record<string, string> = { '0': '#1b9e77', '0.05': '#d95f02', '0.2': '#7570b3' };
const color = (loss: number) => COLORS[String(loss)] ?? '#e7298a';

export function renderReport(points: PointResult[], o: ConvergenceOptions, command: string) {
  const sizes = [...new Set(points.map((p) => p.n))].sort((a, b) => a - b);
  const series = (mode: Mode, field: 'medianRounds' | 'bytesPerEventPerMember'): Series[] =>
    o.losses.map((loss) => ({
      name: `${mode === 'ours' ? 'ours' : 'classic SWIM'}, ${loss * 100}% loss`,
      color: color(loss),
      dashed: mode === 'classic',
      points: points.filter((p) => p.mode === mode && p.loss === loss).map((p) => [p.n, p[field]] as const),
    }));
  const reference: Series = {
    name: 'log10 N (reference)',
    color: '#000',
    dashed: true,
    points: sizes.map((n) => [n, Math.log10(n)] as const),
  };
  const svg = renderSvg(
    [
      {
        title: 'Rounds until every member has a new event',
        xLabel: 'members N (log scale)',
        yLabel: `median rounds (1 round = ${ROUND} ms)`,
        series: [...series('ours', 'medianRounds'), ...series('classic', 'medianRounds'), reference],
      },
      {
        title: 'Bytes sent per event per member',
        xLabel: 'members N (log scale)',
        yLabel: 'bytes / event / member',
        series: [...series('ours', 'bytesPerEventPerMember'), ...series('classic', 'bytesPerEventPerMember')],
      },
    ],
    `simulation, seed ${o.seed}, ${o.runs} run(s) × ${o.events} events per point, ${o.multicast ? 'multicast' : 'unicast fan-out'}; ${command}`,
  );
  const rows = sizes.flatMap((n) =>
    o.losses.map((loss) => {
      const ours = points.find((p) => p.n === n && p.loss === loss && p.mode === 'ours');
      const classic = points.find((p) => p.n === n && p.loss === loss && p.mode === 'classic');
      const r = (p?: PointResult) =>
        p
          ? `${p.medianRounds.toFixed(3)} / ${p.maxRounds.toFixed(2)}${p.unconverged ? ` (${p.unconverged} unconverged)` : ''}`
          : '–';
      const ratio =
        ours && classic && ours.medianRounds > 0
          ? (classic.medianRounds / ours.medianRounds).toFixed(1)
          : '–';
      return `| ${n} | ${loss * 100}% | ${r(ours)} | ${r(classic)} | ${ratio} | ${Math.log10(n).toFixed(2)} | ${ours?.bytesPerEventPerMember ?? '–'} | ${classic?.bytesPerEventPerMember ?? '–'} | ${ours?.datagramsPerEventPerMember ?? '–'} | ${classic?.datagramsPerEventPerMember ?? '–'} |`;
    }),
  );
  const md = [
    '# Gossip convergence (simulation)',
    '',
    `Command: \`${command}\``,
    '',
    `In-memory simulated network (1 ms + 0–2 ms jitter per link, uniform loss on every link), LAN defaults (one round =`,
    `${ROUND} ms), ${o.multicast ? 'multicast' : 'unicast fan-out'}, seed ${o.seed}, ${o.runs} cluster(s) × ${o.events} events per point.`,
    'A cluster first joins through one seed and converges on membership; then each event is a claim by a random member,',
    'timed until every member holds it. **ours** = sent to every member at once, then piggybacked/gossiped λ·log N',
    'times; **classic SWIM** (baseline) = piggyback and gossip only (`broadcastNewEvents: false`). Bytes per event per',
    'member = bytes sent for the event in the 5 rounds after the claim (every datagram sent for it alone, whole; its own',
    'encoded bytes when it rides on another message) / N; datagrams per event per member counts the datagrams sent for',
    'it alone / N. Sent, so lost copies count too. Medians over events.',
    '',
    '![convergence](gossip-convergence.svg)',
    '',
    '| N | loss | ours rounds median / max | classic rounds median / max | classic ÷ ours | log10 N | ours bytes/ev/member | classic bytes/ev/member | ours datagrams/ev/member | classic datagrams/ev/member |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
  return { svg, md };
}

const spec: CliSpec = {
  name: 'bench gossip-convergence',
  summary:
    'rounds for a new gossip event to reach all members vs N and loss (simulation), ours vs classic SWIM',
  options: {
    sizes: {
      type: 'string',
      doc: 'cluster sizes, comma-separated',
      defaultText: '10,20,50,100,200,500,1000',
    },
    loss: { type: 'string', doc: 'link loss rates, comma-separated', defaultText: '0,0.05,0.2' },
    runs: {
      type: 'string',
      doc: 'clusters per point (different seeds), ours and baseline alternating',
      defaultText: '2',
    },
    events: { type: 'string', doc: 'claims measured per cluster and loss rate', defaultText: '5' },
    seed: { type: 'string', doc: 'base seed of the simulation', defaultText: '1' },
    multicast: { type: 'boolean', doc: 'simulate a multicast network instead of unicast fan-out' },
    out: {
      type: 'string',
      doc: 'directory for the JSON, markdown and SVG results',
      defaultText: 'docs/benchmarks',
    },
  },
  examples: ['node tools/bench/dist/main.js gossip-convergence --sizes 10,100 --runs 1 --events 3'],
};

function list(v: unknown, def: number[], field: string): number[] {
  if (v === undefined) return def;
  const out = String(v)
    .split(',')
    .map((s) => Number(s.trim()));
  if (!out.length || out.some((x) => !Number.isFinite(x) || x < 0))
    throw new Error(`--${field}: expected numbers, got ${String(v)}`);
  return out;
}

export function parseOptions(argv: string[]): ConvergenceOptions | { help: string } {
  const r = parseCli(spec, argv, {});
  if (r.help) return { help: r.text };
  const v = r.values;
  const o: ConvergenceOptions = {
    sizes: list(v['sizes'], [10, 20, 50, 100, 200, 500, 1000], 'sizes'),
    losses: list(v['loss'], [0, 0.05, 0.2], 'loss'),
    runs: list(v['runs'], [2], 'runs')[0]!,
    events: list(v['events'], [5], 'events')[0]!,
    seed: list(v['seed'], [1], 'seed')[0]!,
    multicast: v['multicast'] === true,
    out: String(v['out'] ?? 'docs/benchmarks'),
  };
  if (o.sizes.some((n) => n < 2 || !Number.isInteger(n)))
    throw new Error('--sizes: each size must be an integer ≥ 2');
  if (o.losses.some((l) => l >= 1)) throw new Error('--loss: each rate must be < 1');
  if (o.runs < 1 || o.events < 1) throw new Error('--runs and --events must be ≥ 1');
  return o;
}

export const gossipConvergence: Subcommand = {
  summary: spec.summary,
  async run(argv) {
    const o = parseOptions(argv);
    if ('help' in o) {
      process.stdout.write(o.help);
      return 0;
    }
    const command = `node tools/bench/dist/main.js gossip-convergence ${argv.join(' ')}`.trim();
    const started = Date.now();
    const progress = (s: string) =>
      process.stderr.write(
        `\r[gossip-convergence ${Math.round((Date.now() - started) / 1000)}s] ${s}`.padEnd(90),
      );
    const points = await runConvergence(o, progress);
    process.stderr.write('\n');
    const { svg, md } = renderReport(points, o, command);
    fs.mkdirSync(o.out, { recursive: true });
    const json = {
      benchmark: 'gossip-convergence',
      command,
      date: new Date().toISOString(),
      options: o,
      round: ROUND,
      points,
    };
    fs.writeFileSync(path.join(o.out, 'gossip-convergence.json'), `${JSON.stringify(json, null, 2)}\n`);
    fs.writeFileSync(path.join(o.out, 'gossip-convergence.md'), md);
    fs.writeFileSync(path.join(o.out, 'gossip-convergence.svg'), svg);
    process.stdout.write(md);
    process.stdout.write(
      `\nwrote ${o.out}/gossip-convergence.{json,md,svg} in ${Math.round((Date.now() - started) / 1000)} s\n`,
    );
    return 0;
  },
};
