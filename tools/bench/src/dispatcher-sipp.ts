/**
 * SIPp for the dispatcher benchmark: one run at a rate (through the shared SIPp runner of @switchyard/launch, one
 * conference per call from an injection file), and the search for the highest error-free call rate.
 */
import { runSipp } from '@switchyard/launch';

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

export async function sippAtRate(
  target: string,
  rate: number,
  durationS: number,
  conferences: number,
): Promise<SippOutcome> {
  const calls = Math.max(50, Math.round(rate * durationS));
  const r = await runSipp({
    target,
    calls,
    rate,
    limit: Math.max(100, rate * 3),
    timeoutS: durationS + 20,
    conferences: Array.from({ length: conferences }, (_, i) => `conf-${i}`),
    // at high rates an errors log costs the generator time; the counts say whether a run failed
    traceErrors: false,
  });
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
