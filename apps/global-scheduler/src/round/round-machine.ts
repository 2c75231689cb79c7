/**
 * One scheduling round as a state machine, fed the results of I/O and returning the next thing to do; the
 * scheduler executes the actions. Rounds are numbered by wall time (`floor(now / intervalMs)`), so every
 * scheduler of the cluster is in the same round at the same time and reads the same snapshot of it.
 *
 *   idle --tick--> reclaiming --reclaimed--> counting --members--> snapshotting --snapshot--> claiming
 *        --claimed--> placing --placed--> idle (reporting the share)
 *
 * Any `failed` event ends the round (idle); claims already taken stay leases and return to pending by themselves.
 */
import { shareOf } from '../share.js';
import type { ConferenceRequest, PlaceOutcome, RoundSnapshot, ShareReport } from '../store/schedule-store.js';

export type RoundPhase = 'idle' | 'reclaiming' | 'counting' | 'snapshotting' | 'claiming' | 'placing';

export type RoundEvent =
  | { type: 'tick'; now: number }
  | { type: 'reclaimed'; count: number }
  | { type: 'members'; ids: string[] }
  | { type: 'snapshot'; snapshot: RoundSnapshot }
  | { type: 'claimed'; conferences: ConferenceRequest[] }
  | { type: 'placed'; outcomes: PlaceOutcome[] }
  | { type: 'failed'; error: unknown };

export type RoundAction =
  | { type: 'reclaim'; now: number }
  | { type: 'list-members' }
  | { type: 'take-snapshot'; round: number; members: string[]; windowEnd: number; ttlMs: number }
  | { type: 'claim'; n: number; windowEnd: number; leaseUntil: number }
  | { type: 'place'; conferences: ConferenceRequest[] }
  | { type: 'report'; report: ShareReport }
  | { type: 'overrun'; round: number }
  | { type: 'abort'; phase: RoundPhase; error: unknown }
  | { type: 'none' };

export interface RoundMachineInit {
  schedulerId: string;
  intervalMs: number;
  /** Conferences starting within this many ms of now are due. */
  windowMs: number;
  /** How long a claim holds before it returns to pending. */
  claimLeaseMs: number;
}

export class RoundMachine {
  private phase: RoundPhase = 'idle';
  private now = 0;
  private round = 0;
  private snap: RoundSnapshot | undefined;
  private share = 0;
  private claimed = 0;
  /** The last report, for the API. */
  lastReport: ShareReport | undefined;

  constructor(private readonly init: RoundMachineInit) {}

  get currentPhase(): RoundPhase {
    return this.phase;
  }

  handle(e: RoundEvent): RoundAction {
    if (e.type === 'failed') {
      const phase = this.phase;
      this.phase = 'idle';
      return { type: 'abort', phase, error: e.error };
    }
    switch (this.phase) {
      case 'idle':
        if (e.type !== 'tick') return { type: 'none' };
        this.now = e.now;
        this.round = Math.floor(e.now / this.init.intervalMs);
        this.phase = 'reclaiming';
        return { type: 'reclaim', now: e.now };
      case 'reclaiming':
        if (e.type === 'tick') return { type: 'overrun', round: Math.floor(e.now / this.init.intervalMs) };
        if (e.type !== 'reclaimed') return this.unexpected(e);
        this.phase = 'counting';
        return { type: 'list-members' };
      case 'counting': {
        if (e.type === 'tick') return { type: 'overrun', round: Math.floor(e.now / this.init.intervalMs) };
        if (e.type !== 'members') return this.unexpected(e);
        // a scheduler always counts itself: it is alive, even if its own lease has not been seen yet
        const members = [...new Set([...e.ids, this.init.schedulerId])].sort();
        this.phase = 'snapshotting';
        return {
          type: 'take-snapshot',
          round: this.round,
          members,
          windowEnd: this.now + this.init.windowMs,
          ttlMs: this.init.intervalMs * 10,
        };
      }
      case 'snapshotting': {
        if (e.type === 'tick') return { type: 'overrun', round: Math.floor(e.now / this.init.intervalMs) };
        if (e.type !== 'snapshot') return this.unexpected(e);
        this.snap = e.snapshot;
        this.share = shareOf(e.snapshot.total, e.snapshot.members, this.init.schedulerId, this.round).share;
        this.phase = 'claiming';
        return {
          type: 'claim',
          n: this.share,
          windowEnd: this.now + this.init.windowMs,
          leaseUntil: this.now + this.init.claimLeaseMs,
        };
      }
      case 'claiming':
        if (e.type === 'tick') return { type: 'overrun', round: Math.floor(e.now / this.init.intervalMs) };
        if (e.type !== 'claimed') return this.unexpected(e);
        this.claimed = e.conferences.length;
        if (e.conferences.length === 0) return this.finish([]);
        this.phase = 'placing';
        return { type: 'place', conferences: e.conferences };
      case 'placing':
        if (e.type === 'tick') return { type: 'overrun', round: Math.floor(e.now / this.init.intervalMs) };
        if (e.type !== 'placed') return this.unexpected(e);
        return this.finish(e.outcomes);
    }
  }

  private finish(outcomes: PlaceOutcome[]): RoundAction {
    this.phase = 'idle';
    const report: ShareReport = {
      schedulerId: this.init.schedulerId,
      round: this.round,
      total: this.snap?.total ?? 0,
      n: this.snap?.members.length ?? 0,
      share: this.share,
      claimed: this.claimed,
      placed: outcomes.filter((o) => o.ok).length,
      unplaceable: outcomes.filter((o) => !o.ok && o.reason === 'no-room').length,
      at: this.now,
    };
    this.lastReport = report;
    return { type: 'report', report };
  }

  private unexpected(e: RoundEvent): RoundAction {
    const phase = this.phase;
    this.phase = 'idle';
    return { type: 'abort', phase, error: new Error(`round: event ${e.type} in phase ${phase}`) };
  }
}
