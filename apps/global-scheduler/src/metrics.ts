/** Prometheus metrics of one scheduler (its own prom-client registry, so several can live in one process). */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { UNPLACEABLE_REASONS, type UnplaceableReason } from './store/schedule-store.js';

export class SchedulerMetrics {
  readonly registry = new Registry();
  /** Read at every scrape for the unplaceable gauge (the scheduler sets it to its store's counts). */
  collectUnplaceable: (() => Promise<Record<UnplaceableReason, number>>) | undefined;
  readonly rounds = new Counter({
    name: 'scheduler_rounds_total',
    help: 'rounds run',
    registers: [this.registry],
  });
  readonly roundErrors = new Counter({
    name: 'scheduler_round_errors_total',
    help: 'rounds aborted by an error (e.g. Redis unreachable)',
    registers: [this.registry],
  });
  readonly overruns = new Counter({
    name: 'scheduler_round_overruns_total',
    help: 'round ticks skipped because the previous round was still running',
    registers: [this.registry],
  });
  readonly catchUps = new Counter({
    name: 'scheduler_round_catch_ups_total',
    help: 'rounds run at once after an overrun, for the tick that found the previous round still running',
    registers: [this.registry],
  });
  readonly placements = new Counter({
    name: 'scheduler_placements_total',
    help: 'conferences placed',
    registers: [this.registry],
  });
  readonly noRoom = new Counter({
    name: 'scheduler_unplaceable_total',
    help: 'placement attempts that found no server to take the conference, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly unplaceable: Gauge<'reason'> = (() => {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- prom-client calls collect with the gauge as this
    const self = this;
    return new Gauge({
      name: 'scheduler_unplaceable_conferences',
      help: 'conferences no server can take now (shared by the cluster), by reason: no-servers, too-large, no-room',
      labelNames: ['reason'],
      registers: [this.registry],
      async collect() {
        const counts = await self.collectUnplaceable?.().catch(() => undefined);
        if (!counts) return;
        for (const r of UNPLACEABLE_REASONS) this.set({ reason: r }, counts[r]);
      },
    });
  })();
  /** Read at every scrape for the view gauge (the scheduler sets it to its server view's counts). */
  collectView: (() => Record<'serving' | 'draining' | 'down', number>) | undefined;
  readonly viewServers: Gauge<'state'> = (() => {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- prom-client calls collect with the gauge as this
    const self = this;
    return new Gauge({
      name: 'scheduler_view_servers',
      help: "conference servers in this scheduler's registry view (what placement chooses from), by state",
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        const counts = self.collectView?.();
        if (!counts) return;
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      },
    });
  })();
  readonly claimsLost = new Counter({
    name: 'scheduler_claims_lost_total',
    help: 'claims that expired before placement',
    registers: [this.registry],
  });
  readonly evacuations = new Counter({
    name: 'scheduler_servers_marked_down_total',
    help: 'servers marked down by keep-alive',
    registers: [this.registry],
  });
  readonly moved = new Counter({
    name: 'scheduler_conferences_moved_total',
    help: 'conferences sent back for re-placement off a down server',
    registers: [this.registry],
  });
  readonly probes = new Counter({
    name: 'scheduler_probes_total',
    help: 'keep-alive probes by result',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly share = new Gauge({
    name: 'scheduler_last_share',
    help: 'share of the last round',
    registers: [this.registry],
  });
  readonly members = new Gauge({
    name: 'scheduler_live_schedulers',
    help: 'N of the last round',
    registers: [this.registry],
  });
  readonly storeUp = new Gauge({
    name: 'scheduler_store_up',
    help: '1 when the last store operation succeeded, 0 when Redis was unreachable',
    registers: [this.registry],
  });
  readonly redisCommands = new Counter({
    name: 'scheduler_redis_commands_total',
    help: 'Redis commands sent by this process (schedule store and registry; a script counts once)',
    registers: [this.registry],
  });
  readonly placeSeconds = new Histogram({
    name: 'scheduler_place_batch_seconds',
    help: 'duration of one atomic placement call',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5],
    registers: [this.registry],
  });
}
