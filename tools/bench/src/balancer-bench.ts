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

export const BALANCER_BENCH_CLI: CliSpec = {
  name: 'bench balancer',
  summary:
    'req/s and p99 through the container balancer vs HAProxy leastconn (same 2 backends, wrk); writes docs/benchmarks/container-balancer.{json,md}',
  options: {
    duration: { type: 'string', doc: 'seconds per measurement', defaultText: '5' },
    runs: { type: 'string', doc: 'runs (median reported)', defaultText: '3' },
    connections: { type: 'string', doc: 'wrk connections', defaultText: '64' },
    threads: { type: 'string', doc: 'wrk threads', defaultText: '2' },
    'out-dir': { type: 'string', doc: 'where to write the report', defaultText: '<repo>/docs/benchmarks' },
    'no-write': { type: 'boolean', doc: 'print the table only' },
  },
  examples: [
    'node tools/bench/dist/main.js balancer',
    'node tools/bench/dist/main.js balancer --duration 2 --runs 1 --no-write',
  ],
};

const HOST = '127.0.41.20';
const TOKEN = 'bench-registration-token';
const here = path.dirname(new URL(import.meta.url).pathname);
const repo = path.resolve(here, '../../..');

interface Figure {
  rps: number;
  p99Ms: number;
  errors: number;
}

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

function wrk(url: string, o: { duration: number; connections: number; threads: number }): Figure {
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
  return { rps, p99Ms: p99, errors };
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

export async function balancerBenchMain(argv: string[]): Promise<number> {
  const cli = parseCli(BALANCER_BENCH_CLI, argv);
  if (cli.help) {
    process.stdout.write(cli.text);
    return 0;
  }
  const v = cli.values as Record<string, string | boolean | undefined>;
  const o = {
    duration: Number(v['duration'] ?? 5),
    runs: Number(v['runs'] ?? 3),
    connections: Number(v['connections'] ?? 64),
    threads: Number(v['threads'] ?? 2),
  };
  for (const bin of ['wrk', 'haproxy'])
    try {
      execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    } catch {
      process.stderr.write(`bench balancer: ${bin} is not installed (apt-get install ${bin})\n`);
      return 1;
    }
  const children: ChildProcess[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-bench-balancer-'));
  try {
    const bal = await spawnReady(
      process.execPath,
      [
        packageBin('@switchyard/container-balancer'),
        '--host',
        HOST,
        '--port',
        '0',
        '--register-host',
        HOST,
        '--register-port',
        '0',
      ],
      '"balancer":"ready"',
      { BALANCER_REGISTRATION_TOKEN: TOKEN },
    );
    children.push(bal.child);
    const { url, register } = JSON.parse(bal.line) as { url: string; register: string };
    const backends: number[] = [];
    for (const id of ['b1', 'b2']) {
      const b = await spawnReady(
        process.execPath,
        [path.join(here, 'balancer-backend.js'), HOST, register, id, TOKEN],
        '"backend":"ready"',
      );
      children.push(b.child);
      backends.push((JSON.parse(b.line) as { port: number }).port);
    }
    for (let i = 0; i < 600; i++) {
      const s = (await (await fetch(`${url}/v1/services`)).json()) as {
        services: Array<{ containers: unknown[] }>;
      };
      if (s.services[0]?.containers.length === 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const hport = await freePortOn(HOST);
    const cfg = path.join(tmp, 'haproxy.cfg');
    fs.writeFileSync(
      cfg,
      [
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
        ...backends.map((p, i) => `  server s${i + 1} ${HOST}:${p}`),
        '',
      ].join('\n'),
    );
    const hap = spawn('haproxy', ['-f', cfg, '-db'], { stdio: 'ignore' });
    children.push(hap);
    for (let i = 0; i < 100; i++) {
      try {
        if ((await fetch(`http://${HOST}:${hport}/`)).ok) break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const targets = {
      ours: `${url}/svc/bench/`,
      haproxy: `http://${HOST}:${hport}/`,
      direct: `http://${HOST}:${backends[0]}/`,
    };
    const results: Record<keyof typeof targets, Figure[]> = { ours: [], haproxy: [], direct: [] };
    for (let r = 0; r < o.runs; r++) {
      const order: Array<keyof typeof targets> =
        r % 2 === 0 ? ['ours', 'haproxy', 'direct'] : ['haproxy', 'ours', 'direct'];
      for (const k of order) {
        const f = wrk(targets[k], o);
        results[k].push(f);
        process.stderr.write(
          `run ${r + 1} ${k}: ${Math.round(f.rps)} req/s, p99 ${f.p99Ms} ms, errors ${f.errors}\n`,
        );
      }
    }
    const med = Object.fromEntries(
      Object.entries(results).map(([k, fs]) => [
        k,
        {
          rps: median(fs.map((f) => f.rps)),
          p99Ms: median(fs.map((f) => f.p99Ms)),
          errors: fs.reduce((a, f) => a + f.errors, 0),
        },
      ]),
    ) as Record<keyof typeof targets, Figure>;
    const load = os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ');
    const ratio = med.ours.rps / med.haproxy.rps;
    const table = [
      '| target | req/s (median) | p99 ms (median) | errors (all runs) |',
      '| --- | ---: | ---: | ---: |',
      `| container balancer (ours, \`/svc/bench/\`) | ${Math.round(med.ours.rps)} | ${med.ours.p99Ms} | ${med.ours.errors} |`,
      `| HAProxy ${haproxyVersion()} leastconn, 1 thread | ${Math.round(med.haproxy.rps)} | ${med.haproxy.p99Ms} | ${med.haproxy.errors} |`,
      `| one backend directly | ${Math.round(med.direct.rps)} | ${med.direct.p99Ms} | ${med.direct.errors} |`,
      `| ratio ours / HAProxy | ${ratio.toFixed(2)}x | | |`,
    ].join('\n');
    process.stdout.write(`${table}\n\nload average at the end: ${load}\n`);
    if (!v['no-write']) {
      const dir = typeof v['out-dir'] === 'string' ? v['out-dir'] : path.join(repo, 'docs/benchmarks');
      fs.writeFileSync(
        path.join(dir, 'container-balancer.json'),
        `${JSON.stringify({ date: new Date().toISOString(), options: o, loadAverage: load, results, medians: med, ratio }, null, 2)}\n`,
      );
      fs.writeFileSync(path.join(dir, 'container-balancer.md'), report(table, o, load));
    }
    return 0;
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function haproxyVersion(): string {
  try {
    return /version (\S+)/.exec(execFileSync('haproxy', ['-v'], { encoding: 'utf8' }))?.[1] ?? '';
  } catch {
    return '';
  }
}

function report(
  table: string,
  o: { duration: number; runs: number; connections: number; threads: number },
  load: string,
): string {
  return `# Container balancer benchmark

\`npm run bench -- balancer\` (or \`node tools/bench/dist/main.js balancer\`; \`--help\` for the flags).

HTTP/1.1 keep-alive GETs from \`wrk -t${o.threads} -c${o.connections} -d${o.duration}s --latency\` through our container
balancer (\`/svc/bench/\`: least-loaded queue of service \`bench\`, undici pool per container, forwarding headers,
in-flight accounting) and through HAProxy \`balance leastconn\` with one thread (\`nbthread 1\`, \`http-reuse
always\`), both in front of the **same two Node backends** (plain \`http\` servers answering \`ok\`, registered with
the balancer by \`@switchyard/container-link\`), and one backend directly. ${o.runs} runs; in each, ours and HAProxy
are measured back to back, alternating which goes first; medians reported. Everything (wrk, both balancers, both
backends) runs on the same 2 vCPUs, **shared with other engineers' work during this run** (load average at the
end: ${load}), so absolute figures are low and noisy; the ratio of ours to HAProxy measured side by side is the
figure to read.

${table}

Not measured (not built): balance quality (max/mean in-flight over 10 containers of uneven speed vs HAProxy
leastconn vs random) and selection cost with 10,000 containers in one service in this benchmark; the queue's own
cost with 10,000 entries is in [affinity-micro.md](affinity-micro.md).
`;
}
