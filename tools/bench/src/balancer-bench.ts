/**
 * Container balancer benchmark: HTTP keep-alive requests/s and p99 latency through our balancer (`/svc/bench/`,
 * least-loaded queue, undici pools) vs HAProxy `balance leastconn` (one thread), in front of the same 2 Node
 * backends, with the same load generator (wrk), plus one backend directly. Each of `--runs` runs measures the
 * three back to back (ours and HAProxy alternate which goes first); medians are reported.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseCli, type CliSpec } from '@switchyard/core';
import { packageBin } from '@switchyard/launch';
import { measureSelection, type SelectionFigure } from './balancer-selection.js';

export const BALANCER_BENCH_CLI: CliSpec = {
  name: 'bench balancer',
  summary:
    'container balancer vs HAProxy: req/s, p99 and CPU per request (leastconn, 1 thread, same 2 backends, wrk); balance quality over 10 uneven containers (ours, HAProxy leastconn, random); selection cost with 10,000 containers; writes docs/benchmarks/container-balancer.{json,md}',
  options: {
    duration: { type: 'string', doc: 'seconds per throughput measurement', defaultText: '5' },
    runs: { type: 'string', doc: 'alternating runs (medians reported)', defaultText: '5' },
    warmup: {
      type: 'string',
      doc: 'seconds of unrecorded load on each target first (JIT, pools; a loaded machine needs long)',
      defaultText: '10',
    },
    rewarm: {
      type: 'string',
      doc: 'seconds of unrecorded load on a target right before each of its measured runs (a Node process idle while the others ran is slow again at first: its JIT code is cold)',
      defaultText: '2',
    },
    connections: { type: 'string', doc: 'wrk connections', defaultText: '64' },
    threads: { type: 'string', doc: 'wrk threads', defaultText: '2' },
    'quality-duration': { type: 'string', doc: 'seconds per balance-quality measurement', defaultText: '5' },
    containers: {
      type: 'string',
      doc: 'containers in one service for the selection cost',
      defaultText: '10000',
    },
    quick: { type: 'boolean', doc: 'a short smoke run (1 s measurements, 1 run, 1,000 containers)' },
    'balancer-main': {
      type: 'string',
      doc: 'run this balancer main.js instead of the package bin (before/after comparisons)',
      defaultText: 'the package bin',
    },
    'baseline-main': {
      type: 'string',
      doc: 'also run this balancer main.js (another build, with its own 2 backends) in every run, side by side with ours: before/after CPU per request under the same contention',
      defaultText: 'none',
    },
    'baseline-args': {
      type: 'string',
      doc: 'flags for the --baseline-main build, space-separated, after an = (e.g. --baseline-args="--upstream-pipelining 16": a before/after of that path)',
      defaultText: 'none',
    },
    'pipelined-depth': {
      type: 'string',
      doc: 'also run our balancer with --upstream-pipelining N (a second process with its own 2 backends) in every run, side by side; 0 = not',
      defaultText: '16',
    },
    'out-dir': { type: 'string', doc: 'where to write the report', defaultText: '<repo>/docs/benchmarks' },
    'no-write': { type: 'boolean', doc: 'print the tables only' },
  },
  examples: [
    'node tools/bench/dist/main.js balancer',
    'node tools/bench/dist/main.js balancer --quick --no-write',
  ],
};

const HOST = '127.0.41.20';
const TOKEN = 'bench-registration-token';
const here = path.dirname(new URL(import.meta.url).pathname);
const repo = path.resolve(here, '../../..');
/** The helper processes run from the build (also when this file runs from src/ under vitest). */
const dist = path.resolve(here, '../dist');

interface Figure {
  rps: number;
  p99Ms: number;
  errors: number;
  requests: number;
  /** CPU time of the proxy process (ours or HAProxy) per request, µs; NaN for the direct target. */
  cpuUsPerRequest: number;
  /**
   * Its user-space part (the rest is the kernel's: system calls, loopback TCP). Measured here, most of the
   * difference between Node and HAProxy is in this part.
   */
  userUsPerRequest: number;
  /** 1-minute load average when the run ended (absent in reports written before it was recorded). */
  load?: number;
}

/** utime + stime (or utime alone) of a process in ms (Linux /proc; clock ticks of 10 ms). */
function cpuMs(pid: number | undefined, userOnly = false): number {
  if (pid === undefined) return NaN;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + (userOnly ? 0 : Number(f[12]))) * (1000 / CLK_TCK);
  } catch {
    return NaN;
  }
}
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function spawnReady(
  cmd: string,
  args: string[],
  marker: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; line: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${cmd}: no ready line in 60 s: ${out}`)), 60_000);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const line = out.split('\n').find((l) => l.includes(marker));
      if (line) {
        clearTimeout(timer);
        resolve({ child, line });
      }
    });
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    child.once('exit', (code) => reject(new Error(`${cmd} exited ${code}: ${out}`)));
  });
}

function toMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
}

function wrk(
  url: string,
  o: { duration: number; connections: number; threads: number },
  pid?: number,
): Figure {
  const before = cpuMs(pid);
  const userBefore = cpuMs(pid, true);
  const out = execFileSync(
    'wrk',
    [`-t${o.threads}`, `-c${o.connections}`, `-d${o.duration}s`, '--latency', url],
    { encoding: 'utf8', timeout: (o.duration + 30) * 1000 },
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const p99 = toMs(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? '');
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = non2xx + (sockErr ? sockErr.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const cpuUsPerRequest = ((cpuMs(pid) - before) * 1000) / requests;
  const userUsPerRequest = ((cpuMs(pid, true) - userBefore) * 1000) / requests;
  const load = os.loadavg()[0]!;
  return { rps, p99Ms: p99, errors, requests, cpuUsPerRequest, userUsPerRequest, load };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function freePortOn(host: string): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

async function waitForServices(url: string, service: string, n: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const s = (await (await fetch(`${url}/v1/services`)).json()) as {
      services: Array<{ service: string; containers: unknown[] }>;
    };
    if ((s.services.find((x) => x.service === service)?.containers.length ?? 0) >= n) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`bench balancer: ${n} containers of ${service} did not register in 60 s`);
}

async function waitForOk(url: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`bench balancer: ${url} did not answer in 30 s`);
}

function haproxyConfig(
  hport: number,
  backends: number[],
  uneven: { lcPort: number; randPort: number; ports: number[] },
): string {
  const servers = (ports: number[]) => ports.map((p, i) => `  server s${i + 1} ${HOST}:${p}`);
  return [
    'global',
    '  nbthread 1',
    '  maxconn 4000', // under the default FD limit of this machine (20,000)
    'defaults',
    '  mode http',
    '  timeout connect 1s',
    '  timeout client 30s',
    '  timeout server 30s',
    '  http-reuse always',
    'frontend fe',
    `  bind ${HOST}:${hport}`,
    '  default_backend be',
    'backend be',
    '  balance leastconn',
    ...servers(backends),
    'frontend fe_lc',
    `  bind ${HOST}:${uneven.lcPort}`,
    '  default_backend uneven_lc',
    'backend uneven_lc',
    '  balance leastconn',
    ...servers(uneven.ports),
    'frontend fe_rand',
    `  bind ${HOST}:${uneven.randPort}`,
    '  default_backend uneven_rand',
    'backend uneven_rand',
    '  balance random(1)', // one draw: a plain random choice (the default of 2 draws is power-of-two-choices)
    ...servers(uneven.ports),
    '',
  ].join('\n');
}

interface Quality {
  samples: number;
  /** Each server's in flight, averaged over the samples. */
  avgInFlight: number[];
  /** max / mean of avgInFlight (1 = even). */
  maxOverMean: number;
  ratioMax: number;
  peak: number;
  served: number[];
}

export interface BalancerBenchResult {
  command: string;
  date: string;
  options: Record<string, number | boolean>;
  loadAverage: { start: string; end: string };
  throughput: {
    runs: Record<'ours' | 'haproxy' | 'direct', Figure[]> & { baseline?: Figure[]; pipelined?: Figure[] };
    medians: Record<'ours' | 'haproxy' | 'direct', Figure> & { baseline?: Figure; pipelined?: Figure };
    ratio: number;
    cpuRatio: number;
    /** With --baseline-main: that build's main.js and the median of the per-run CPU ratios ours / baseline. */
    baseline?: { main: string; args?: string; cpuRatio: number; pipelinedCpuRatio?: number };
    /**
     * With --pipelined-depth N > 0: ours again, a second process run with `--upstream-pipelining N`; medians of the
     * per-run ratios to HAProxy (req/s and CPU per request).
     */
    pipelined?: { depth: number; ratio: number; cpuRatio: number };
  };
  quality: { delaysMs: number[]; ours: Quality; haproxyLeastconn: Quality; random: Quality };
  selection: { containers: number; cases: SelectionFigure[] };
}

export async function balancerBenchMain(argv: string[]): Promise<number> {
  const cli = parseCli(BALANCER_BENCH_CLI, argv);
  if (cli.help) {
    process.stdout.write(cli.text);
    return 0;
  }
  const v = cli.values as Record<string, string | boolean | undefined>;
  const quick = v['quick'] === true;
  const num = (k: string, normal: number, short: number) => {
    const x = v[k] === undefined ? (quick ? short : normal) : Math.round(Number(v[k]));
    if (!(x > 0)) throw new Error(`bench balancer: --${k} must be a number > 0`);
    return x;
  };
  const o = {
    duration: num('duration', 5, 1),
    runs: num('runs', 5, 1),
    warmup: num('warmup', 10, 1),
    rewarm: num('rewarm', 2, 1),
    connections: num('connections', 64, 16),
    threads: num('threads', 2, 1),
    qualityDuration: num('qualityDuration', 5, 1),
    containers: num('containers', 10_000, 1_000),
    delayUnitMs: num('delayUnitMs', 20, 5),
    pipelinedDepth: v['pipelinedDepth'] === undefined ? 16 : Math.round(Number(v['pipelinedDepth'])),
  };
  if (!(o.pipelinedDepth === 0 || (o.pipelinedDepth >= 2 && o.pipelinedDepth <= 128)))
    throw new Error('bench balancer: --pipelined-depth must be 0 (not run) or 2 to 128');
  for (const bin of ['wrk', 'haproxy'])
    try {
      execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    } catch {
      process.stderr.write(`bench balancer: ${bin} is not installed (apt-get install ${bin})\n`);
      return 1;
    }
  const loadStart = loadAverage();
  const children: ChildProcess[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-bench-balancer-'));
  const log = (line: string) => process.stderr.write(`${line}\n`);
  try {
    const main =
      typeof v['balancerMain'] === 'string'
        ? path.resolve(v['balancerMain'])
        : packageBin('@switchyard/container-balancer');
    const startBalancer = async (file: string, extra: string[] = []) => {
      const b = await spawnReady(
        process.execPath,
        [file, '--host', HOST, '--port', '0', '--register-host', HOST, '--register-port', '0', ...extra],
        '"balancer":"ready"',
        { BALANCER_REGISTRATION_TOKEN: TOKEN },
      );
      children.push(b.child);
      return { ...(JSON.parse(b.line) as { url: string; register: string }), pid: b.child.pid };
    };
    const bal = await startBalancer(main);
    const { url, register } = bal;
    const startBackends = async (reg: string, ids: string[]) => {
      const ports: number[] = [];
      for (const id of ids) {
        const b = await spawnReady(
          process.execPath,
          [path.join(dist, 'balancer-backend.js'), HOST, reg, id, TOKEN],
          '"backend":"ready"',
        );
        children.push(b.child);
        ports.push((JSON.parse(b.line) as { port: number }).port);
      }
      return ports;
    };
    const baselineMain = typeof v['baselineMain'] === 'string' ? path.resolve(v['baselineMain']) : undefined;
    const baselineArgs =
      typeof v['baselineArgs'] === 'string' ? v['baselineArgs'].split(' ').filter(Boolean) : [];
    if (baselineArgs.length > 0 && !baselineMain)
      throw new Error('bench balancer: --baseline-args needs --baseline-main');
    let baseline: { url: string; pid: number | undefined } | undefined;
    if (baselineMain) {
      const bb = await startBalancer(baselineMain, baselineArgs);
      await startBackends(bb.register, ['base1', 'base2']);
      await waitForServices(bb.url, 'bench', 2);
      baseline = { url: `${bb.url}/svc/bench/`, pid: bb.pid };
    }
    let pipelined: { url: string; pid: number | undefined } | undefined;
    if (o.pipelinedDepth > 0) {
      const pb = await startBalancer(main, ['--upstream-pipelining', String(o.pipelinedDepth)]);
      await startBackends(pb.register, ['pipe1', 'pipe2']);
      await waitForServices(pb.url, 'bench', 2);
      pipelined = { url: `${pb.url}/svc/bench/`, pid: pb.pid };
    }
    const backends = await startBackends(register, ['b1', 'b2']);
    // service times long against a proxy's own cost, so that in flight at the servers measures the choice, not how
    // fast the proxy itself can pass requests on a busy machine
    const delays = [1, 1, 2, 2, 4, 4, 8, 8, 16, 16].map((x) => x * o.delayUnitMs);
    const un = await spawnReady(
      process.execPath,
      [path.join(dist, 'balancer-uneven.js'), HOST, register, TOKEN, delays.join(',')],
      '"uneven":"ready"',
    );
    children.push(un.child);
    const uneven = JSON.parse(un.line) as { ports: number[]; controlPort: number };
    await waitForServices(url, 'bench', 2);
    await waitForServices(url, 'uneven', delays.length);

    const hport = await freePortOn(HOST);
    const lcPort = await freePortOn(HOST);
    const randPort = await freePortOn(HOST);
    const cfg = path.join(tmp, 'haproxy.cfg');
    fs.writeFileSync(cfg, haproxyConfig(hport, backends, { lcPort, randPort, ports: uneven.ports }));
    const hap = spawn('haproxy', ['-f', cfg, '-db'], { stdio: 'ignore' });
    children.push(hap);
    await waitForOk(`http://${HOST}:${hport}/`);

    // 1. throughput, CPU per request
    const targets = {
      ours: { url: `${url}/svc/bench/`, pid: bal.pid },
      haproxy: { url: `http://${HOST}:${hport}/`, pid: hap.pid },
      direct: { url: `http://${HOST}:${backends[0]}/`, pid: undefined },
      ...(baseline ? { baseline } : {}),
      ...(pipelined ? { pipelined } : {}),
    };
    type Target = 'ours' | 'haproxy' | 'direct' | 'baseline' | 'pipelined';
    const present = (ks: Target[]): Target[] => ks.filter((k) => targets[k] !== undefined);
    for (const k of present(['ours', 'haproxy', 'direct', 'baseline', 'pipelined'])) {
      wrk(targets[k]!.url, { ...o, duration: o.warmup });
      log(`warm-up ${k}: ${o.warmup} s`);
    }
    const runs: Record<Target, Figure[]> = { ours: [], haproxy: [], direct: [], baseline: [], pipelined: [] };
    for (let r = 0; r < o.runs; r++) {
      // the order turns around every run: the baseline build stays next to ours, the pipelined balancer next to
      // HAProxy, and which of a pair goes first alternates
      const order = present(
        r % 2 === 0
          ? ['ours', 'baseline', 'pipelined', 'haproxy', 'direct']
          : ['haproxy', 'pipelined', 'baseline', 'ours', 'direct'],
      );
      for (const k of order) {
        wrk(targets[k]!.url, { ...o, duration: o.rewarm });
        const f = wrk(targets[k]!.url, o, targets[k]!.pid);
        runs[k].push(f);
        log(
          `run ${r + 1} ${k}: ${Math.round(f.rps)} req/s, p99 ${f.p99Ms} ms, ${f.cpuUsPerRequest.toFixed(0)} µs CPU/request, errors ${f.errors}`,
        );
      }
    }
    if (!baseline) delete (runs as Partial<Record<Target, Figure[]>>).baseline;
    if (!pipelined) delete (runs as Partial<Record<Target, Figure[]>>).pipelined;
    const medians = Object.fromEntries(
      Object.entries(runs).map(([k, fs]) => [
        k,
        {
          rps: median(fs.map((f) => f.rps)),
          p99Ms: median(fs.map((f) => f.p99Ms)),
          errors: fs.reduce((a, f) => a + f.errors, 0),
          requests: fs.reduce((a, f) => a + f.requests, 0),
          cpuUsPerRequest: median(fs.map((f) => f.cpuUsPerRequest)),
          userUsPerRequest: median(fs.map((f) => f.userUsPerRequest)),
        },
      ]),
    ) as Record<Target, Figure>;
    // the ratio of each run's pair, then the median: a pair ran in the same run, minutes apart at most
    const ratio = median(runs.ours.map((f, i) => f.rps / runs.haproxy[i]!.rps));
    const cpuRatio = medians.ours.cpuUsPerRequest / medians.haproxy.cpuUsPerRequest;
    const baselineFigure =
      baseline && baselineMain
        ? {
            main: path.relative(repo, baselineMain),
            args: baselineArgs.join(' '),
            cpuRatio: median(runs.ours.map((f, i) => f.cpuUsPerRequest / runs.baseline[i]!.cpuUsPerRequest)),
            ...(pipelined
              ? {
                  pipelinedCpuRatio: median(
                    runs.pipelined.map((f, i) => f.cpuUsPerRequest / runs.baseline[i]!.cpuUsPerRequest),
                  ),
                }
              : {}),
          }
        : undefined;
    const pipelinedFigure = pipelined
      ? {
          depth: o.pipelinedDepth,
          ratio: median(runs.pipelined.map((f, i) => f.rps / runs.haproxy[i]!.rps)),
          cpuRatio: median(
            runs.pipelined.map((f, i) => f.cpuUsPerRequest / runs.haproxy[i]!.cpuUsPerRequest),
          ),
        }
      : undefined;

    // 2. balance quality over containers of uneven speed
    const qualityOf = async (target: string): Promise<Quality> => {
      await fetch(`http://${HOST}:${uneven.controlPort}/`, { method: 'POST' });
      wrk(target, { ...o, duration: o.qualityDuration });
      const q = (await (await fetch(`http://${HOST}:${uneven.controlPort}/`)).json()) as Quality;
      log(`quality ${target}: max/mean ${q.maxOverMean.toFixed(2)} (${q.samples} samples)`);
      return q;
    };
    wrk(`${url}/svc/uneven/`, { ...o, duration: o.warmup });
    const quality = {
      delaysMs: delays,
      ours: await qualityOf(`${url}/svc/uneven/`),
      haproxyLeastconn: await qualityOf(`http://${HOST}:${lcPort}/`),
      random: await qualityOf(`http://${HOST}:${randPort}/`),
    };

    // 3. selection cost (in this process, on the balancer's core)
    const selection = {
      containers: o.containers,
      cases: measureSelection({ containers: o.containers, ms: quick ? 20 : 300, runs: quick ? 1 : 5 }),
    };

    const result: BalancerBenchResult = {
      // an argument with a space (--baseline-args=…) is quoted, so that the command printed can be pasted as is
      command:
        `node tools/bench/dist/main.js balancer ${argv.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ')}`.trim(),
      date: new Date().toISOString(),
      options: { ...o, quick },
      loadAverage: { start: loadStart, end: loadAverage() },
      throughput: {
        runs,
        medians,
        ratio,
        cpuRatio,
        ...(baselineFigure ? { baseline: baselineFigure } : {}),
        ...(pipelinedFigure ? { pipelined: pipelinedFigure } : {}),
      },
      quality,
      selection,
    };
    const md = report(result);
    process.stdout.write(md);
    if (v['noWrite'] !== true) {
      const dir = typeof v['outDir'] === 'string' ? v['outDir'] : path.join(repo, 'docs/benchmarks');
      fs.writeFileSync(path.join(dir, 'container-balancer.json'), `${JSON.stringify(result, null, 2)}\n`);
      fs.writeFileSync(path.join(dir, 'container-balancer.md'), md);
    }
    return 0;
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function loadAverage(): string {
  return os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
}

function haproxyVersion(): string {
  try {
    return /version (\S+)/.exec(execFileSync('haproxy', ['-v'], { encoding: 'utf8' }))?.[1] ?? '';
  } catch {
    return '';
  }
}

const f0 = (x: number) => (Number.isFinite(x) ? String(Math.round(x)) : 'n/a');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');

/** The whole report, regenerated from one command (printed at its top). */
export function report(r: BalancerBenchResult): string {
  const o = r.options;
  const t = r.throughput;
  const m = t.medians;
  const q = r.quality;
  const row = (name: string, f: Figure) =>
    `| ${name} | ${f0(f.rps)} | ${f.p99Ms} | ${f0(f.cpuUsPerRequest)} | ${f0(f.userUsPerRequest)} | ${f.errors} |`;
  const qrow = (name: string, x: Quality) =>
    `| ${name} | ${f2(x.maxOverMean)} | ${x.avgInFlight.map(f2).join(' / ')} | ${x.peak} | ${x.served.join(' / ')} |`;
  const total = (x: Quality) => x.served.reduce((a, n) => a + n, 0);
  const sel = r.selection.cases.map((c) => `| ${c.case} | ${c.nsPerOp.toFixed(0)} |`);
  return `# Container balancer benchmark

\`\`\`
${r.command}
\`\`\`

(\`npm run build\` first; \`--help\` for the flags, \`--quick\` for a smoke run.) Run ${r.date}; **load average
${r.loadAverage.start} at the start, ${r.loadAverage.end} at the end** (1/5/15 min) on 2 vCPUs shared with other
work: every process below (wrk, both proxies, the backends) competes for the same cores${
    Number(r.loadAverage.end.split(' ')[0]) > 2
      ? ', and other work kept them busy, so absolute figures are low and noisy; read the side-by-side ratios'
      : ''
  }.

## 1. Throughput, latency and CPU per request vs HAProxy

HTTP/1.1 keep-alive GETs from \`wrk -t${o['threads']} -c${o['connections']} -d${o['duration']}s --latency\` through our
balancer (\`/svc/bench/\`: the least-loaded container of service \`bench\`, picked exactly per request from the
in-flight counts, an undici pool of keep-alive connections per container, forwarding headers; its HTTP front is \`--proxy-front llhttp\` (node:net + Node's llhttp binding) unless \`BALANCER_PROXY_FRONT\` says otherwise) and through HAProxy ${haproxyVersion()} \`balance
leastconn\` with one thread (\`nbthread 1\`, \`http-reuse always\`), both in front of the **same two Node backends**
(plain \`http\` servers answering \`ok\`, registered with the balancer by \`@switchyard/container-link\`), and one
backend directly.${
    t.pipelined
      ? ` Ours is also run as a second process (its own 2 backends, same code) with \`--upstream-pipelining ${t.pipelined.depth}\`: idempotent requests pipelined up to ${t.pipelined.depth} deep on each upstream connection, the requests of one turn of the event loop leaving a connection in one write (off by default: head-of-line blocking; docs/container-balancer.md, "Pipelining to the containers"); the container picked is still the exact least-loaded one per request.`
      : ''
  } First ${o['warmup']} s of unrecorded load on each target (JIT, pools); then ${o['runs']} runs, each measuring
every target in turn (ours${t.baseline ? ', the baseline build' : ''}${t.pipelined ? ', ours pipelined' : ''}, HAProxy, then the backend directly; the proxies in the reverse order in every other run),
each measurement right after ${o['rewarm']} s of unrecorded load on the same target; medians, and ratios as
medians of each run's own ratio. CPU per request is the proxy process's
own user + system time (\`/proc/<pid>/stat\`) over the run divided by the requests served: it depends far less on
what else runs on the machine than req/s does; its user-space part is shown apart (the kernel's part, system calls
and loopback TCP, differs far less between proxies).

| target | req/s (median) | p99 ms (median) | proxy CPU µs/request (median) | of which user space | errors (all runs) |
| --- | ---: | ---: | ---: | ---: | ---: |
${row('container balancer (ours)', m.ours)}
${m.pipelined ? `${row(`container balancer (ours), \`--upstream-pipelining ${t.pipelined?.depth}\`, own 2 backends`, m.pipelined)}\n` : ''}${row('HAProxy leastconn, 1 thread', m.haproxy)}
${row('one backend directly', m.direct)}${m.baseline ? `\n${row(`baseline build (\`${t.baseline?.main}\`${t.baseline?.args ? ` \`${t.baseline.args}\`` : ''}), own 2 backends`, m.baseline)}` : ''}

- **req/s ratio ours / HAProxy: ${f2(t.ratio)}x** (median of the per-run ratios; goal ≥ 0.6x, stretch 0.9x)
- CPU per request ours / HAProxy: ${f2(t.cpuRatio)}x${
    t.pipelined
      ? `\n- **req/s ratio ours with \`--upstream-pipelining ${t.pipelined.depth}\` / HAProxy: ${f2(t.pipelined.ratio)}x**; CPU per request: ${f2(t.pipelined.cpuRatio)}x (medians of the per-run ratios)`
      : ''
  }${
    t.baseline
      ? `\n- CPU per request ours / baseline build: ${f2(t.baseline.cpuRatio)}x${t.baseline.pipelinedCpuRatio !== undefined ? `; ours pipelined / baseline build: ${f2(t.baseline.pipelinedCpuRatio)}x` : ''} (medians of the per-run ratios; the baseline ran next to both in every run)`
      : ''
  }

Per run (req/s ours / HAProxy${t.runs.pipelined ? ' / ours pipelined' : ''}, 1-minute load average after each): ${t.runs.ours
    .map((f, i) => {
      const xs = [f, t.runs.haproxy[i]!, ...(t.runs.pipelined ? [t.runs.pipelined[i]!] : [])];
      return `${xs.map((x) => f0(x.rps)).join(' / ')} (load ${xs.map((x) => x.load?.toFixed(1) ?? '?').join(' / ')})`;
    })
    .join(', ')}.
Per run (proxy CPU µs/request ours / HAProxy${t.runs.baseline ? ' / baseline build' : ''}${t.runs.pipelined ? ' / ours pipelined' : ''}): ${t.runs.ours
    .map((f, i) =>
      [
        f,
        t.runs.haproxy[i]!,
        ...(t.runs.baseline ? [t.runs.baseline[i]!] : []),
        ...(t.runs.pipelined ? [t.runs.pipelined[i]!] : []),
      ]
        .map((x) => f0(x.cpuUsPerRequest))
        .join(' / '),
    )
    .join(', ')}.

## 2. Balance quality over ${q.delaysMs.length} containers of uneven speed

${q.delaysMs.length} HTTP servers in one process answering after ${q.delaysMs.join(', ')} ms, each registered with the
balancer as a container of service \`uneven\` (equal capacity). \`wrk -c${o['connections']}\` for ${o['qualityDuration']} s through
each balancer in turn; the backends' process samples every server's in-flight count every 2 ms. Each server's
in flight averaged over the run, then **max / mean of those averages across the servers** (1.00 = perfectly
even; a balancer blind to load leaves the slow servers with more in flight). Random choice is HAProxy \`balance
random(1)\` (one draw, no load information).

| balancer | max/mean of time-averaged in flight | average in flight per server (fastest → slowest) | peak in flight on one server | requests served per server |
| --- | ---: | ---: | ---: | --- |
${qrow('container balancer (ours)', q.ours)}
${qrow('HAProxy leastconn', q.haproxyLeastconn)}
${qrow('random choice', q.random)}

Requests served in total: ours ${total(q.ours)}, HAProxy leastconn ${total(q.haproxyLeastconn)}, random
${total(q.random)}. A proxy that passes fewer requests per second leaves fewer in flight at the servers, where every
choice looks alike; the ratios compare the choices only where these totals are of the same order.

## 3. Selection cost with ${r.selection.containers.toLocaleString('en-US')} containers in one service

In-process, on the balancer's pure core (\`ContainerTable\`, the indexed binary heap of \`@switchyard/affinity\`),
against a linear scan over the same records (pick = scan all for the minimum score; update = a field write).
A request costs one pick and two re-scores (in flight +1 at the start, -1 at the end).

| operation | ns/op (median) |
| --- | ---: |
${sel.join('\n')}
`;
}
