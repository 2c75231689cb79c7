/**
 * SIPp for the dispatcher benchmark: a run in its own temp dir, bounded by `-m` and `-timeout`, read from its
 * `-trace_stat` CSV; and the search for the highest error-free call rate.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface SippOutcome {
  rate: number;
  calls: number;
  successful: number;
  failed: number;
  unexpected: number;
  retransmissions: number;
  elapsedS: number;
  /** completed calls per second of wall time */
  achieved: number;
  ok: boolean;
}

let scenarioCache: string | undefined;
function conferenceScenario(): string {
  // the built-in uac with the Request-URI user read from the injection file (one conference per call)
  scenarioCache ??= spawnSync('sipp', ['-sd', 'uac'], { encoding: 'utf8' }).stdout.replaceAll(
    '[service]',
    '[field0]',
  );
  return scenarioCache;
}

export async function sippAtRate(
  target: string,
  rate: number,
  durationS: number,
  conferences: number,
): Promise<SippOutcome> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipp-bench-'));
  const calls = Math.max(50, Math.round(rate * durationS));
  fs.writeFileSync(path.join(dir, 'uac.xml'), conferenceScenario());
  fs.writeFileSync(
    path.join(dir, 'confs.csv'),
    ['SEQUENTIAL', ...Array.from({ length: conferences }, (_, i) => `conf-${i}`)].join('\n') + '\n',
  );
  const args = [
    '-sf',
    'uac.xml',
    '-inf',
    'confs.csv',
    target,
    '-i',
    '127.0.0.1',
    '-p',
    '0',
    '-m',
    String(calls),
    '-r',
    String(rate),
    '-l',
    String(Math.max(100, rate * 3)),
    '-timeout',
    `${durationS + 20}s`,
    '-timeout_error',
    '-trace_stat',
    '-fd',
    '1',
    '-nostdin',
    '-buff_size',
    '4194304',
  ];
  const started = Date.now();
  const child = spawn('sipp', args, { cwd: dir, stdio: 'ignore' });
  const guard = setTimeout(() => child.kill('SIGKILL'), (durationS + 40) * 1000);
  await new Promise<void>((r) => child.once('exit', () => r()));
  clearTimeout(guard);
  const elapsedS = (Date.now() - started) / 1000;
  const stat = lastStat(dir);
  fs.rmSync(dir, { recursive: true, force: true });
  const n = (k: string) => Number(stat[k] ?? 0);
  const successful = n('SuccessfulCall(C)');
  const failed = n('FailedCall(C)');
  const unexpected = n('FailedUnexpectedMessage(C)');
  const achieved = successful / elapsedS;
  return {
    rate,
    calls,
    successful,
    failed,
    unexpected,
    retransmissions: n('Retransmissions(C)'),
    elapsedS,
    achieved,
    // error-free, and SIPp really placed calls at (nearly) the asked rate
    ok: failed === 0 && unexpected === 0 && successful === calls && achieved >= rate * 0.85,
  };
}

function lastStat(dir: string): Record<string, string> {
  const f = fs.readdirSync(dir).find((x) => x.endsWith('_.csv'));
  if (!f) return {};
  const lines = fs.readFileSync(path.join(dir, f), 'utf8').trim().split('\n');
  const head = lines[0]?.split(';') ?? [];
  const last = lines[lines.length - 1]?.split(';') ?? [];
  return Object.fromEntries(head.map((h, i) => [h, last[i] ?? '']));
}

/** Highest error-free rate: doubling from `start` until a run fails, then `refine` bisection steps. */
export async function maxErrorFreeRate(
  target: string,
  opts: {
    start: number;
    max: number;
    durationS: number;
    conferences: number;
    refine: number;
    log: (s: string) => void;
  },
): Promise<{ best: number; runs: SippOutcome[] }> {
  const runs: SippOutcome[] = [];
  let good = 0;
  let bad = 0;
  for (let rate = opts.start; rate <= opts.max; rate *= 2) {
    const r = await sippAtRate(target, rate, opts.durationS, opts.conferences);
    runs.push(r);
    opts.log(fmt(r));
    if (r.ok) good = rate;
    else {
      bad = rate;
      break;
    }
  }
  if (bad) {
    for (let i = 0; i < opts.refine && bad - good > Math.max(50, good * 0.1); i++) {
      const rate = Math.round((good + bad) / 2 / 50) * 50 || Math.round((good + bad) / 2);
      const r = await sippAtRate(target, rate, opts.durationS, opts.conferences);
      runs.push(r);
      opts.log(fmt(r));
      if (r.ok) good = rate;
      else bad = rate;
    }
  }
  return { best: good, runs };
}

function fmt(r: SippOutcome): string {
  return `    ${String(r.rate).padStart(5)} calls/s: ${r.ok ? 'ok  ' : 'FAIL'} ${r.successful}/${r.calls} ok, ${r.failed} failed, ${r.unexpected} unexpected, ${r.retransmissions} retrans, achieved ${r.achieved.toFixed(0)}/s`;
}
