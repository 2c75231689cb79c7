/**
 * Micro-benchmark of @switchyard/affinity's hot paths: SIP key extraction (ours vs. a straightforward split-and-regex
 * parse, alternating in one run), AffinityTable bind/lookup/acquire+release, LeastLoadedQueue update and pop+add with
 * 10k entries. Each case runs `--runs` times for about `--ms` milliseconds; the median ops/s is reported.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AffinityTable, LeastLoadedQueue, extractSipKeys, seededRng } from '@switchyard/affinity';
import { ManualClock, parseCli, type CliSpec } from '@switchyard/core';

export const AFFINITY_MICRO_CLI: CliSpec = {
  name: 'bench affinity-micro',
  summary:
    'ops/s of SIP key extraction, AffinityTable and LeastLoadedQueue; writes docs/benchmarks/affinity-micro.{json,md}',
  options: {
    runs: {
      type: 'string',
      env: 'BENCH_RUNS',
      doc: 'measured runs per case (median reported)',
      defaultText: '5',
    },
    ms: { type: 'string', env: 'BENCH_MS', doc: 'target duration of one run, in ms', defaultText: '300' },
    'out-dir': {
      type: 'string',
      env: 'BENCH_OUT_DIR',
      doc: 'where to write the JSON and markdown',
      defaultText: '<repo>/docs/benchmarks',
    },
    'no-write': { type: 'boolean', doc: 'print the table only' },
  },
  examples: [
    'node tools/bench/dist/main.js affinity-micro',
    'node tools/bench/dist/main.js affinity-micro --runs 3 --ms 200 --no-write',
  ],
};

const CRLF = '\r\n';
/** An INVITE as a softphone sends it (RFC 3665 style), with SDP. */
export const REAL_INVITE = [
  'INVITE sip:conf-42@pop1.example.com SIP/2.0',
  'Via: SIP/2.0/UDP 192.0.2.101:5060;branch=z9hG4bK74bf9;rport',
  'Max-Forwards: 70',
  'From: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=9fxced76sl',
  'To: <sip:conf-42@pop1.example.com>',
  'Call-ID: 3848276298220188511@atlanta.example.com',
  'CSeq: 1 INVITE',
  'Contact: <sip:alice@192.0.2.101:5060;transport=udp>',
  'Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO, UPDATE',
  'Supported: replaces, timer',
  'User-Agent: Linphone/5.2.0 (belle-sip/5.2.0)',
  'Content-Type: application/sdp',
  'Content-Length: 226',
  '',
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 192.0.2.101',
  's=-',
  'c=IN IP4 192.0.2.101',
  't=0 0',
  'm=audio 49172 RTP/AVP 0 8 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=sendrecv',
  '',
].join(CRLF);

/** The same INVITE with compact header names, as size-conscious UDP stacks send it. */
export const COMPACT_INVITE = REAL_INVITE.replace('\r\nVia:', '\r\nv:')
  .replace('\r\nFrom:', '\r\nf:')
  .replace('\r\nTo:', '\r\nt:')
  .replace('\r\nCall-ID:', '\r\ni:')
  .replace('\r\nContact:', '\r\nm:')
  .replace('\r\nContent-Type:', '\r\nc:')
  .replace('\r\nContent-Length:', '\r\nl:');

/** Baseline: decode the message, split headers into lines, one regular expression per line. */
function naiveKeys(bytes: Buffer): {
  callId: string | undefined;
  conferenceId: string | undefined;
  fromTag: string | undefined;
} {
  const text = bytes.toString('latin1');
  const lines = text.split('\r\n\r\n')[0]!.split('\r\n');
  const req = /^(\S+) (\S+) SIP\/2\.0$/.exec(lines[0]!);
  const conferenceId = req ? /^[a-z]+:([^@:;]+)@/.exec(req[2]!)?.[1] : undefined;
  let callId: string | undefined;
  let fromTag: string | undefined;
  for (const line of lines) {
    const m = /^([^:\s]+)\s*:\s*(.*)$/.exec(line);
    if (!m) continue;
    const name = m[1]!.toLowerCase();
    if (name === 'call-id' || name === 'i') callId = m[2]!.trim();
    else if (name === 'from' || name === 'f') fromTag = /;\s*tag=([^;\s]+)/i.exec(m[2]!)?.[1];
  }
  return { callId, conferenceId, fromTag };
}

interface CaseResult {
  name: string;
  opsPerSec: number;
  runs: number[];
  note: string;
}

let sink = 0; // results feed this so the work cannot be optimised away

/** Runs `body(n)` (which performs n operations) repeatedly for about `ms`, returning ops/s. */
function measure(body: (n: number) => void, ms: number): number {
  let n = 256;
  // calibrate a batch to about 10 ms
  for (;;) {
    const t0 = process.hrtime.bigint();
    body(n);
    const dt = Number(process.hrtime.bigint() - t0) / 1e6;
    if (dt >= 10 || n > 1e8) {
      n = Math.max(1, Math.round((n * 10) / Math.max(dt, 0.001)));
      break;
    }
    n *= 4;
  }
  let ops = 0;
  const t0 = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < ms) {
    body(n);
    ops += n;
    elapsed = Number(process.hrtime.bigint() - t0) / 1e6;
  }
  return (ops * 1000) / elapsed;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export interface AffinityMicroReport {
  benchmark: 'affinity-micro';
  date: string;
  command: string;
  node: string;
  cpus: number;
  runsPerCase: number;
  msPerRun: number;
  cases: CaseResult[];
  ratios: Record<string, number>;
  note: string;
}

export function runAffinityMicro(opts: {
  runs: number;
  ms: number;
  progress?: (line: string) => void;
}): Omit<AffinityMicroReport, 'command'> {
  const invite = Buffer.from(REAL_INVITE, 'latin1');
  const compact = Buffer.from(COMPACT_INVITE, 'latin1');
  const check = extractSipKeys(invite);
  const checkC = extractSipKeys(compact);
  if (
    !check.ok ||
    !checkC.ok ||
    check.keys.callId !== checkC.keys.callId ||
    naiveKeys(invite).callId !== check.keys.callId
  ) {
    throw new Error('benchmark messages do not parse the same way: fix them before measuring');
  }

  // Table and queue fixtures: 10k entries each.
  const N = 10_000;
  const clock = new ManualClock(0);
  const table = new AffinityTable<number>({ clock }, { maxEntries: 2 * N, idleTtlMs: 32_000 });
  const keys = Array.from({ length: N }, (_, i) => `${i}-3848276298220188511@atlanta.example.com`);
  keys.forEach((k, i) => table.bind(k, i % 16));
  const fresh = Array.from({ length: 1024 }, (_, i) => `fresh-${i}@bench`);
  const queue = new LeastLoadedQueue<number>();
  for (let i = 0; i < N; i++) queue.add(`c${i}`, i, i % 100);
  const ids = Array.from({ length: N }, (_, i) => `c${i}`);
  const rng = seededRng(1);
  const loads = Float64Array.from({ length: 4096 }, () => Math.floor(rng.next() * 1000));

  const cases: Array<{ name: string; note: string; body: (n: number) => void }> = [
    {
      name: 'extractSipKeys, INVITE (long names)',
      note: `${invite.length} B message with SDP`,
      body: (n) => {
        for (let i = 0; i < n; i++) {
          const r = extractSipKeys(invite);
          if (r.ok) sink += r.keys.callId.length;
        }
      },
    },
    {
      name: 'extractSipKeys, INVITE (compact names)',
      note: `${compact.length} B, i:/f:/t: headers`,
      body: (n) => {
        for (let i = 0; i < n; i++) {
          const r = extractSipKeys(compact);
          if (r.ok) sink += r.keys.callId.length;
        }
      },
    },
    {
      name: 'baseline: split + regex parse, INVITE',
      note: 'decode, split lines, one regex per line',
      body: (n) => {
        for (let i = 0; i < n; i++) sink += naiveKeys(invite).callId?.length ?? 0;
      },
    },
    {
      name: 'AffinityTable.lookup (hit, 10k bound)',
      note: 'refreshes the idle deadline (LRU move)',
      body: (n) => {
        for (let i = 0; i < n; i++) sink += table.lookup(keys[i % N]!) ?? 0;
      },
    },
    {
      name: 'AffinityTable.bind + unbind (10k bound)',
      note: 'new key each time, then removed',
      body: (n) => {
        for (let i = 0; i < n; i++) {
          const k = fresh[i & 1023]!;
          sink += table.bind(k, 1).refs;
          table.unbind(k);
        }
      },
    },
    {
      name: 'AffinityTable.acquire + release (10k bound)',
      note: 'one pair = one op',
      body: (n) => {
        for (let i = 0; i < n; i++) {
          const k = keys[i % N]!;
          sink += table.acquire(k);
          sink += table.release(k);
        }
      },
    },
    {
      name: 'LeastLoadedQueue.update (10k entries)',
      note: 'random id, random load 0..999',
      body: (n) => {
        for (let i = 0; i < n; i++) queue.update(ids[(i * 7919) % N]!, loads[i & 4095]!);
      },
    },
    {
      name: 'LeastLoadedQueue.pop + add (10k entries)',
      note: 'one pair = one op; size stays 10k',
      body: (n) => {
        for (let i = 0; i < n; i++) {
          const e = queue.pop()!;
          queue.add(e.id, e.value, loads[i & 4095]!);
          sink += e.load;
        }
      },
    },
  ];

  const runs = cases.map(() => [] as number[]);
  // Alternate the cases run by run so that noise from other work on the machine spreads over all of them.
  for (let r = 0; r < opts.runs; r++) {
    cases.forEach((c, i) => {
      runs[i]!.push(measure(c.body, opts.ms));
    });
    opts.progress?.(`run ${r + 1}/${opts.runs} done`);
  }
  table.stop();
  const results: CaseResult[] = cases.map((c, i) => ({
    name: c.name,
    opsPerSec: Math.round(median(runs[i]!)),
    runs: runs[i]!.map(Math.round),
    note: c.note,
  }));
  const ours = results[0]!.opsPerSec;
  const base = results[2]!.opsPerSec;
  return {
    benchmark: 'affinity-micro',
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.availableParallelism(),
    runsPerCase: opts.runs,
    msPerRun: opts.ms,
    cases: results,
    ratios: { 'extractSipKeys / split+regex baseline': Math.round((ours / base) * 100) / 100 },
    note: `sink=${sink % 1000}; the machine (2 vCPU) was shared with other engineers' builds and tests during the run, so absolute figures are noisy; medians of ${opts.runs} runs, cases interleaved`,
  };
}

const fmt = (x: number) => x.toLocaleString('en-US');

export function renderTable(cases: CaseResult[]): string {
  const rows = cases.map(
    (c) =>
      `| ${c.name} | ${fmt(c.opsPerSec)} | ${fmt(Math.min(...c.runs))} – ${fmt(Math.max(...c.runs))} | ${c.note} |`,
  );
  return ['| case | median ops/s | range of runs | note |', '|---|---:|---:|---|', ...rows].join('\n');
}

function repoRoot(): string {
  let dir = import.meta.dirname;
  while (!fs.existsSync(path.join(dir, 'nx.json'))) {
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
}

/** CLI entry: `affinity-micro [--runs N] [--ms MS] [--out-dir DIR] [--no-write]`. Returns the exit code. */
export function affinityMicroMain(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
): number {
  const cli = parseCli(AFFINITY_MICRO_CLI, argv);
  if (cli.help) {
    out(cli.text);
    return 0;
  }
  const v = cli.values as { runs?: string; ms?: string; outDir?: string; noWrite?: boolean };
  const runs = Number(v.runs ?? 5);
  const ms = Number(v.ms ?? 300);
  if (
    !(Number.isInteger(runs) && runs >= 1 && runs <= 50) ||
    !(Number.isFinite(ms) && ms >= 10 && ms <= 10_000)
  ) {
    out('bench affinity-micro: --runs must be an integer 1..50 and --ms a number 10..10000 (see --help)\n');
    return 2;
  }
  const command = ['node tools/bench/dist/main.js affinity-micro', ...argv].join(' ');
  const report: AffinityMicroReport = {
    command,
    ...runAffinityMicro({ runs, ms, progress: (l) => process.stderr.write(`  ${l}\n`) }),
  };
  const table = renderTable(report.cases);
  out(
    `${table}\n\nextractSipKeys is ${report.ratios['extractSipKeys / split+regex baseline']}x the split+regex baseline\n`,
  );
  if (!v.noWrite) {
    const dir = v.outDir ? path.resolve(v.outDir) : path.join(repoRoot(), 'docs/benchmarks');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'affinity-micro.json'), `${JSON.stringify(report, null, 2)}\n`);
    const md = [
      '# affinity-micro',
      '',
      `Produced by \`${command}\` on ${report.date} (Node ${report.node}, ${report.cpus} CPUs).`,
      '',
      `Load average when it ended: ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(' / ')} (above 0.5, other work shared the cores).`,
      `Figures are medians of ${runs} interleaved runs of about ${ms} ms each; compare ratios within one run.`,
      '',
      table,
      '',
      `Ratio: extractSipKeys / split+regex baseline = **${report.ratios['extractSipKeys / split+regex baseline']}x** (same message, same run).`,
      '',
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'affinity-micro.md'), md);
    out(`wrote ${path.join(dir, 'affinity-micro.json')} and affinity-micro.md\n`);
  }
  return 0;
}
