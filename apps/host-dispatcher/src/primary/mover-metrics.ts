/**
 * The workers' media mover counters (issue 13) on the primary's /metrics. Each worker sends its cumulative counters
 * when they change; the primary adds the difference to one Prometheus counter per event, so a report that is late or
 * repeated adds nothing and a worker that exits loses nothing it reported.
 */
import type { Counter } from 'prom-client';
import type { MediaMoveCounters } from '../worker/media-move.js';

/** The `event` label of each mover counter on `sipdisp_media_mover_total`. */
export const MOVER_EVENTS: Readonly<Record<keyof MediaMoveCounters, string>> = {
  lost: 'mixer-lost',
  moved: 'conference-moved',
  allocationFailures: 'allocation-failed',
  reinvites: 'reinvite-sent',
  reinvitesOk: 'reinvite-answered',
  reinvitesFailed: 'reinvite-failed',
  dialogsEnded: 'dialog-ended',
  checkFailures: 'check-failed',
};

export class MoverMetrics {
  private readonly last = new Map<string, Partial<MediaMoveCounters>>();

  constructor(private readonly counter: Counter<'event'>) {
    // every event present from the start, at 0 (a dashboard can tell "none" from "not exported")
    for (const event of Object.values(MOVER_EVENTS)) counter.inc({ event }, 0);
  }

  /** A worker's cumulative counters. Unknown keys and values that are not counts are ignored. */
  report(worker: string, c: Partial<MediaMoveCounters>): void {
    const before = this.last.get(worker) ?? {};
    const kept: Partial<MediaMoveCounters> = {};
    for (const key of Object.keys(MOVER_EVENTS) as (keyof MediaMoveCounters)[]) {
      const v = c[key];
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) continue;
      kept[key] = v;
      const prev = before[key] ?? 0;
      // a smaller value: a new process under the same id counting from 0
      const delta = v >= prev ? v - prev : v;
      if (delta > 0) this.counter.inc({ event: MOVER_EVENTS[key] }, delta);
    }
    this.last.set(worker, { ...before, ...kept });
  }

  /** The worker exited: its next process (if it keeps the id) counts from 0. */
  forget(worker: string): void {
    this.last.delete(worker);
  }
}
