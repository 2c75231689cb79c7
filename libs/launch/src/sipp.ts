/**
 * Running SIPp (Debian package `sip-tester`) from tests and benchmarks, the one runner: each run in its own temp dir
 * (SIPp writes CSV and logs to its cwd), bounded by `-m` and `-timeout`, stopped by pid, results read from its
 * `-trace_stat` CSV.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LaunchError } from './errors.js';

export interface SippRun {
  /** `127.0.0.1:5060` */
  target: string;
  /** Built-in scenario (`uac`, `uas`) or a scenario file via `args`. */
  scenario?: string;
  calls: number;
  rate: number;
  /** Concurrent call limit (`-l`). */
  limit?: number;
  /** Request-URI user part (`-s`). */
  service?: string;
  /** Local SIP port (`-p`); 0 lets SIPp pick. */
  localPort?: number;
  transport?: 'u1' | 'un' | 't1' | 'tn';
  /** Pause between ACK and BYE (`-d`, ms). */
  callLengthMs?: number;
  /** Whole-run cap (`-timeout`), seconds. */
  timeoutS?: number;
  args?: string[];
  /**
   * One conference per call, taken in turn from this list: the built-in uac scenario with the Request-URI user read
   * from an injection file (`-inf`) instead of `-s`.
   */
  conferences?: string[];
  /** Write the errors log (`-trace_err`, default true; a benchmark at high rates may turn it off). */
  traceErrors?: boolean;
  /** Run inside this network namespace (`ip netns exec`; root). */
  netns?: string;
  /** Local IP SIPp binds and puts in its headers (`-i`; default 127.0.0.1). */
  localIp?: string;
  /** Called with SIPp's pid once started. */
  onStart?: (pid: number) => void;
  /** Record every call's response time (`-trace_rtt -rtt_freq 1`: the scenario's `rtd` timer, e.g. INVITE → 200). */
  rtt?: boolean;
}

export interface SippResult {
  code: number | null;
  successful: number;
  failed: number;
  unexpected: number;
  retransmissions: number;
  maxUdpRetrans: number;
  timeoutOnRecv: number;
  created: number;
  elapsedMs: number;
  /** stderr/stdout tail and the errors log when something failed. */
  diagnostics: string;
  /** With `rtt`: each successful call's response time (ms), in SIPp's order. */
  rttMs: number[];
}

export const SIPP_DEFAULTS = {
  /** Runs of SIPp when it stops before its first call because its local port was taken (see {@link localPortTaken}). */
  startAttempts: 3,
} as const;

/**
 * Whether SIPp stopped before creating any call because the local port it chose was taken. With `-p 0` SIPp walks up
 * from 5060 and binds the first port it can; two SIPp processes started at the same moment can both bind one port
 * (SO_REUSEADDR) and then the second one's `listen` fails with errno 98. Nothing was sent: running it again is safe.
 */
export function localPortTaken(r: Pick<SippResult, 'created' | 'diagnostics'>): boolean {
  return !(r.created > 0) && /Unable to (listen|bind) main socket, errno = 98/.test(r.diagnostics);
}

/**
 * Runs SIPp and reads its final statistics. A run that fails calls resolves normally (the counts say so). Without a
 * `localPort`, a run that could not start on the port SIPp picked is run again, up to
 * {@link SIPP_DEFAULTS.startAttempts} times.
 * @throws LaunchError `LNC_ERR_NOT_INSTALLED` when `sipp` cannot be started.
 */
export async function runSipp(run: SippRun): Promise<SippResult> {
  for (let attempt = 1; ; attempt++) {
    const r = await runSippOnce(run);
    if (run.localPort || attempt >= SIPP_DEFAULTS.startAttempts || !localPortTaken(r)) return r;
  }
}

async function runSippOnce(run: SippRun): Promise<SippResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipp-'));
  let scenarioArgs = ['-sn', run.scenario ?? 'uac'];
  if (run.conferences?.length) {
    const sf = path.join(dir, 'uac-conferences.xml');
    fs.writeFileSync(sf, uacFollowingContact().replaceAll('[service]', '[field0]'));
    const inf = path.join(dir, 'conferences.csv');
    fs.writeFileSync(inf, ['SEQUENTIAL', ...run.conferences].join('\n') + '\n');
    scenarioArgs = ['-sf', sf, '-inf', inf];
  } else if (run.scenario && !['uac', 'uas'].includes(run.scenario)) {
    scenarioArgs = ['-sf', run.scenario];
  }
  const args = [
    ...scenarioArgs,
    run.target,
    '-i',
    run.localIp ?? '127.0.0.1',
    '-p',
    String(run.localPort ?? 0),
    '-m',
    String(run.calls),
    '-r',
    String(run.rate),
    '-l',
    String(run.limit ?? Math.max(10, run.rate * 4)),
    '-t',
    run.transport ?? 'u1',
    '-d',
    String(run.callLengthMs ?? 0),
    '-timeout',
    `${run.timeoutS ?? 60}s`,
    '-timeout_error',
    '-trace_stat',
    ...(run.traceErrors === false ? [] : ['-trace_err']),
    ...(run.rtt ? ['-trace_rtt', '-rtt_freq', '1'] : []),
    '-fd',
    '1',
    '-nostdin',
    '-max_socket',
    '1000',
    '-buff_size',
    '4194304',
    ...(run.service ? ['-s', run.service] : []),
    ...(run.args ?? []),
  ];
  const started = Date.now();
  // `ip netns exec` execs sipp: the pid stays SIPp's own
  const [cmd, argv] = run.netns ? ['ip', ['netns', 'exec', run.netns, 'sipp', ...args]] : ['sipp', args];
  const child = spawn(cmd, argv, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const spawnFailed = new Promise<Error>((resolve) => child.once('error', resolve));
  let out = '';
  const keep = (b: Buffer) => {
    out = (out + b.toString()).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  if (child.pid !== undefined) run.onStart?.(child.pid);
  // a hard stop a little after SIPp's own -timeout, by pid
  const guard = setTimeout(() => child.kill('SIGKILL'), ((run.timeoutS ?? 60) + 15) * 1000);
  const code = await Promise.race([
    new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c))),
    spawnFailed.then((err) => err),
  ]);
  clearTimeout(guard);
  if (code instanceof Error) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new LaunchError(
      'LNC_ERR_NOT_INSTALLED',
      `sipp could not start (Debian package sip-tester): ${code.message}`,
      {
        cause: code,
      },
    );
  }
  const elapsedMs = Date.now() - started;
  const stat = readLastStat(dir);
  const errors = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('_errors.log'))
    .map((f) => fs.readFileSync(path.join(dir, f), 'utf8').slice(0, 4000))
    .join('\n');
  const rttMs = run.rtt ? readRtt(dir) : [];
  fs.rmSync(dir, { recursive: true, force: true });
  const n = (k: string) => Number(stat[k] ?? NaN);
  return {
    code,
    successful: n('SuccessfulCall(C)'),
    failed: n('FailedCall(C)'),
    unexpected: n('FailedUnexpectedMessage(C)'),
    retransmissions: n('Retransmissions(C)'),
    maxUdpRetrans: n('FailedMaxUDPRetrans(C)'),
    timeoutOnRecv: n('FailedTimeoutOnRecv(C)'),
    created: n('TotalCallCreated'),
    elapsedMs,
    diagnostics: `sipp ${args.join(' ')}\n${out.slice(-3000)}\n${errors}`,
    rttMs,
  };
}

/** SIPp's `_rtt.csv`: one row per call, the response time in whole ms (column `response_time_ms`). */
function readRtt(dir: string): number[] {
  const file = fs.readdirSync(dir).find((f) => f.endsWith('_rtt.csv'));
  if (!file) return [];
  const lines = fs.readFileSync(path.join(dir, file), 'utf8').trim().split('\n');
  const col = (lines[0] ?? '').split(';').findIndex((h) => h.trim().startsWith('response_time'));
  if (col < 0) return [];
  return lines
    .slice(1)
    .map((l) => Number(l.split(';')[col]))
    .filter((x) => Number.isFinite(x));
}

function readLastStat(dir: string): Record<string, string> {
  const file = fs.readdirSync(dir).find((f) => f.endsWith('_.csv'));
  if (!file) return {};
  const lines = fs.readFileSync(path.join(dir, file), 'utf8').trim().split('\n');
  if (lines.length < 2) return {};
  const head = lines[0]!.split(';');
  const last = lines[lines.length - 1]!.split(';');
  return Object.fromEntries(head.map((h, i) => [h, last[i] ?? '']));
}

/**
 * The built-in uac scenario with the in-dialog requests (ACK of the 2xx, BYE) sent to the remote target the 200 OK's
 * Contact gave (`[next_url]`, stored by `rrs="true"`), as a real UA must (RFC 3261 §12.2.1.1). SIPp's built-in uac
 * sends them to the initial Request-URI instead, so a Contact parameter such as the POP owner token (C9) never
 * travels and an in-dialog request that lands on another POP host cannot be routed by it.
 * @throws LaunchError `LNC_ERR_NOT_INSTALLED` when sipp printed no scenario.
 */
export function uacFollowingContact(): string {
  const xml = builtinScenario('uac');
  const out = xml
    .replace('<recv response="200" rtd="true">', '<recv response="200" rtd="true" rrs="true">')
    .replace(/(ACK|BYE) sip:\[service\]@\[remote_ip\]:\[remote_port\] SIP\/2\.0/g, '$1 [next_url] SIP/2.0');
  // SIPp's built-in text changed: fail loudly rather than silently send to the old Request-URI
  if ((out.match(/\[next_url\]/g) ?? []).length !== 2 || !out.includes('rrs="true"'))
    throw new LaunchError('LNC_ERR_NOT_INSTALLED', 'sipp -sd uac: unexpected built-in scenario text');
  return out;
}

const scenarios = new Map<string, string>();

/**
 * The XML of a SIPp built-in scenario (`sipp -sd`), read once per process.
 * @throws LaunchError `LNC_ERR_NOT_INSTALLED` when sipp printed no scenario.
 */
export function builtinScenario(name: 'uac' | 'uas'): string {
  let xml = scenarios.get(name);
  if (xml === undefined) {
    // `sipp -sd` prints the scenario and exits with 99
    const r = spawnSync('sipp', ['-sd', name], { encoding: 'utf8' });
    if (!r.stdout?.includes('<scenario'))
      throw new LaunchError(
        'LNC_ERR_NOT_INSTALLED',
        `sipp -sd ${name} printed no scenario (Debian package sip-tester): ${r.stderr ?? r.error?.message}`,
      );
    xml = r.stdout;
    scenarios.set(name, xml);
  }
  return xml;
}
