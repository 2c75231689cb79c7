/**
 * The traffic between the tiers, from the tiers' own counters: which counter of which tier measures which link,
 * and the rates per second between two reads of a process's `/metrics` (pure: text and time in, rates out).
 */
import type { TierName } from '../shared/model.js';
import { readSamples } from './prom-text.js';

export type CountedTier = Exclude<TierName, 'registry'>;

/**
 * The counters read per tier, named by the link they measure (a `by` label splits one counter into one rate per
 * label value, e.g. the balancer's requests per service). The names are the tiers' own metric names.
 */
export const TRAFFIC_COUNTERS: Readonly<
  Record<CountedTier, readonly { metric: string; name: string; by?: string }[]>
> = Object.freeze({
  // conferences placed by this scheduler (scheduler → conference servers, through the assignments)
  scheduler: [{ metric: 'scheduler_placements_total', name: 'placements' }],
  // tunnel datagrams from other POP hosts authenticated and handed to this host's dispatcher (POP → owner)
  'pop-router': [{ metric: 'pop_tunnel_injected_total', name: 'forwards' }],
  // UDP datagrams the primary received (clients → host), and the datagrams it passed to its workers
  dispatcher: [
    { metric: 'sipdisp_datagrams_total', name: 'datagrams' },
    { metric: 'sipdisp_forwarded_total', name: 'toWorkers' },
  ],
  // requests routed by service (workers' media allocations and proxied requests → containers)
  balancer: [{ metric: 'balancer_requests_total', name: 'requests', by: 'service' }],
});

/** Counter values of one read, keyed `name` or `name:labelValue`. */
export type Counts = Record<string, number>;

/** The counters of `tier` in a `/metrics` answer (summed over the labels not split by). */
export function countsOf(tier: CountedTier, text: string): Counts {
  const wanted = TRAFFIC_COUNTERS[tier];
  const samples = readSamples(
    text,
    wanted.map((w) => w.metric),
  );
  const out: Counts = {};
  for (const w of wanted) {
    for (const s of samples.get(w.metric) ?? []) {
      const k = w.by ? `${w.name}:${s.labels[w.by] ?? ''}` : w.name;
      out[k] = (out[k] ?? 0) + s.value;
    }
    // a counter with no sample yet (prom-client prints none for a labelled counter never incremented) is 0
    if (!w.by) out[w.name] ??= 0;
  }
  return out;
}

/**
 * Per-second rates between two reads. A counter lower than before was reset (the process restarted): what it
 * holds now is what it counted since. A key missing from the earlier read counts from 0.
 */
export function ratesBetween(
  before: { at: number; counts: Counts },
  after: { at: number; counts: Counts },
): Counts {
  const dt = (after.at - before.at) / 1000;
  const out: Counts = {};
  if (!(dt > 0)) return out;
  for (const [k, v] of Object.entries(after.counts)) {
    const prev = before.counts[k] ?? 0;
    const d = v >= prev ? v - prev : v;
    out[k] = Math.round((d / dt) * 100) / 100;
  }
  return out;
}
