/**
 * SIPp for the dispatcher benchmark: one run at a rate (through the shared SIPp runner of @switchyard/launch, one
 * conference per call from an injection file), and the search for the highest error-free call rate.
 */
import fs from 'node:fs';
import path from 'node:path';
import { runSipp } from '@switchyard/launch';

/** How often the offer tracker reads SIPp's statistics file (ms); SIPp rewrites it every second (`-fd 1`). */
const OFFER_POLL_MS = 200;

/**
 * Follows a running SIPp's `TotalCallCreated` in the statistics CSV it writes (`-trace_stat`), to time the
 * offer itself: from the start until the last call was created. On a loaded machine SIPp places calls more slowly
 * than asked, so `calls / rate` would understate the offer's duration.
 */
function offerTracker(): {
  onStart(pid: number): void;
  stop(): void;
  offerS(calls: number): number | undefined;
} {
  let timer: NodeJS.Timeout | undefined;
  const t0 = Date.now();
  let lastSeen = 0;
  let doneAt: number | undefined;
  let total = 0;
  return {
    onStart(pid) {
      timer = setInterval(() => {
        try {
          // SIPp writes its statistics next to the scenario file (`-sf`), else in its working directory
          const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
          const sf = argv.indexOf('-sf');
          const dir = sf >= 0 ? path.dirname(argv[sf + 1]!) : fs.readlinkSync(`/proc/${pid}/cwd`);
          const file = fs.readdirSync(dir).find((f) => f.endsWith('_.csv'));
          if (!file) return;
          const lines = fs.readFileSync(path.join(dir, file), 'utf8').trim().split('\n');
          const col = lines[0]!.split(';').indexOf('TotalCallCreated');
          const created = Number(lines[lines.length - 1]!.split(';')[col]);
          if (Number.isFinite(created) && created > lastSeen) {
            lastSeen = created;
            doneAt = Date.now();
          }
          total = lastSeen;
        } catch {
          // SIPp has exited or not written yet
        }
      }, OFFER_POLL_MS);
    },
    stop() {
      clearInterval(timer);
    },
    // the time the count last grew, if it reached every call (the file lags by up to a second: an upper bound)
    offerS: (calls) => (doneAt !== undefined && total >= calls ? (doneAt - t0) / 1000 : undefined),
  };
}

export interface SippOutcome {
  rate: number;
  calls: number;
  successful: number;
  failed: number;
  unexpected: number;
  retransmissions: number;
  elapsedS: number;
  /** Seconds SIPp took to create every call (measured; undefined when not tracked or not all were created). */
  offerS: number | undefined;
  /** completed calls per second of wall time */
  achieved: number;
  ok: boolean;
}

export async function sippAtRate(
  target: string,
  rate: number,
  durationS: number,
  conferences: number,
  opts: { trackOffer?: boolean } = {},
): Promise<SippOutcome> {
  const calls = Math.max(50, Math.round(rate * durationS));
  const tracker = opts.trackOffer ? offerTracker() : undefined;
  const r = await runSipp({
    onStart: tracker?.onStart,
    target,
    calls,
    rate,
    limit: Math.max(100, rate * 3),
    timeoutS: durationS + 20,
    conferences: Array.from({ length: conferences }, (_, i) => `conf-${i}`),
    // at high rates an errors log costs the generator time; the counts say whether a run failed
    traceErrors: false,
  }).finally(() => tracker?.stop());
  const elapsedS = r.elapsedMs / 1000;
  const count = (n: number) => (Number.isNaN(n) ? 0 : n);
  const successful = count(r.successful);
  const failed = count(r.failed);
  const unexpected = count(r.unexpected);
  const achieved = successful / elapsedS;
  return {
    rate,
    calls,
    successful,
    failed,
    unexpected,
    retransmissions: count(r.retransmissions),
    elapsedS,
    offerS: tracker?.offerS(calls),
    achieved,
    // error-free, and SIPp really placed calls at (nearly) the asked rate
    ok: failed === 0 && unexpected === 0 && successful === calls && achieved >= rate * 0.85,
  };
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
