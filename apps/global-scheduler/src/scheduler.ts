/**
 * One scheduler of the cluster: registers itself with a TTL lease, runs a round every interval (its share of the
 * pending set, claimed atomically, placed atomically), keeps the conference servers it owns by rendezvous
 * hashing under keep-alive probes, and moves all conferences of a server that stops answering.
 */
import {
  CoreError,
  hasCode,
  parseConfig,
  RateLimitedLog,
  silentLogger,
  type Clock,
  type Logger,
  type Startable,
  type TimerHandle,
} from '@switchyard/core';
import { KeepAliveTracker } from './keepalive/keepalive.js';
import { httpProbe, type HttpProbe } from './keepalive/http-probe.js';
import { probeTargetOf, type Probe } from './keepalive/probe.js';
import { SipOptionsProbe } from './keepalive/sip-options-probe.js';
import { SchedulerMetrics } from './metrics.js';
import { Lease, type RecordInput, type RegistryStore, type ServiceRecord } from '@switchyard/registry';
import { chooseOwner } from './rendezvous.js';
import { RoundMachine, type RoundAction, type RoundEvent } from './round/round-machine.js';
import { ServerView } from './servers/server-view.js';
import { parseFallbacks, SchedulerTunables, tunablesOf, type SchedulerSettings } from './settings.js';
import { fromRegistryCode, SchedulerError } from './errors.js';
import type {
  Candidate,
  ConferenceRecord,
  ConferenceRequest,
  PlaceOutcome,
  ScheduleStore,
  ShareReport,
} from './store/schedule-store.js';

/**
 * PLACE batches of one round in flight at once: enough to hide the round trip behind the scripts (Redis runs them
 * one after another anyway), few enough that one round's burst does not queue megabytes of arguments.
 */
const PLACE_PIPELINE = 4;

export interface SchedulerComponents {
  store: ScheduleStore;
  registry: RegistryStore;
  clock: Clock;
  logger?: Logger;
  /** Keep-alive probe; default: by the record's `meta.probe`, SIP OPTIONS ('sip') or HTTP GET (a URL). */
  probe?: Probe;
  metrics?: SchedulerMetrics;
}

export interface SchedulerInit extends Partial<SchedulerSettings> {
  id: string;
  /**
   * Where this scheduler's API answers (published in its registry record). A function is called at start(), so an
   * API bound to port 0 can publish the port it got.
   */
  address: string | (() => string);
  region?: string;
  /** Run rounds and probes on timers (default true; tests may drive {@link Scheduler.runRound} themselves). */
  timers?: boolean;
}

export type PlacementListener = (conference: ConferenceRequest, outcome: PlaceOutcome) => void;

export class Scheduler implements Startable {
  readonly settings: Readonly<SchedulerSettings>;
  readonly metrics: SchedulerMetrics;
  readonly servers: ServerView;
  private readonly machine: RoundMachine;
  private readonly tracker: KeepAliveTracker;
  private readonly log: Logger;
  private readonly warn: RateLimitedLog;
  /** Its own budget: a region without candidates is warned about every round it lasts, not in others' place. */
  private readonly noCandidatesLog: RateLimitedLog;
  private readonly probe: Probe;
  /** The default probe's SIP socket (none when a probe is injected). */
  private readonly sipProbe: SipOptionsProbe | undefined;
  /** The default probe's HTTP agent (none when a probe is injected). */
  private readonly httpProbe: HttpProbe | undefined;
  private unsubscribeStore: (() => void) | undefined;
  private lease: Lease | undefined;
  private roundTimer: TimerHandle | undefined;
  private probeTimer: TimerHandle | undefined;
  private running: Promise<void> | undefined;
  private probing = new Set<string>();
  private probePass: Promise<void> | undefined;
  private members: string[] = [];
  /** What the round in progress is waiting for (for the overrun warning). */
  private step = 'none';
  private sharePublishing = false;
  /** The share last put in the registry record, and when (see publishShare). */
  private publishedShare: number | undefined;
  private publishedAt = 0;
  /** A tick came while a round was running: run the round it stands for when this one ends. */
  private catchUp = false;
  private listeners: PlacementListener[] = [];
  private started = false;
  /** False while the store (Redis) is unreachable; the API answers 503 then. */
  storeUp = true;
  lastStoreError: string | undefined;

  constructor(
    private readonly components: SchedulerComponents,
    readonly init: SchedulerInit,
  ) {
    // validated against the same schema as the command line; a bad value throws a ConfigError naming it
    this.settings = parseConfig(SchedulerTunables, tunablesOf(init), { convert: false });
    this.metrics = components.metrics ?? new SchedulerMetrics();
    this.log = (components.logger ?? silentLogger).child({ scheduler: init.id });
    this.warn = new RateLimitedLog(this.log, components.clock, 5, 5000);
    this.noCandidatesLog = new RateLimitedLog(this.log, components.clock, 1, 5000);
    if (components.probe) this.probe = components.probe;
    else {
      const sip = new SipOptionsProbe({ clock: components.clock });
      const http = httpProbe(components.clock);
      this.sipProbe = sip;
      this.httpProbe = http;
      this.probe = async (record, timeoutMs) => {
        const t = probeTargetOf(record);
        if (t.kind === 'sip') return sip.probe(t.address, timeoutMs);
        if (t.kind === 'http') return http(t.url, timeoutMs);
        return false;
      };
    }
    this.machine = new RoundMachine({
      schedulerId: init.id,
      intervalMs: this.settings.roundIntervalMs,
      windowMs: this.settings.windowMs,
      claimLeaseMs: this.settings.claimLeaseMs,
    });
    this.tracker = new KeepAliveTracker(this.settings.misses);
    this.servers = new ServerView(
      { registry: components.registry, clock: components.clock, logger: this.log },
      {
        service: this.settings.serverService,
        fallbacks: parseFallbacks(this.settings.fallbacks),
        fallbackAnyRegion: this.settings.fallbackAnyRegion,
      },
    );
    // a server that joined, grew or came back may take what nobody could: retry the unplaceable at the next round
    this.servers.onCapacity = (id) => this.wake('capacity', id);
    this.metrics.storeUp.set(1);
    this.metrics.collectUnplaceable = () => this.components.store.unplaceableByReason();
    this.metrics.collectView = () => this.servers.counts();
  }

  private wake(kind: 'capacity' | 'room', serverId: string): void {
    this.components.store
      .wake(kind)
      .catch((err: unknown) => this.warn.warn({ err, server: serverId }, 'could not flag new capacity'));
  }

  get id(): string {
    return this.init.id;
  }

  get lastShare(): ShareReport | undefined {
    return this.machine.lastReport;
  }

  onPlacement(listener: PlacementListener): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  async start(): Promise<void> {
    if (this.started) throw new CoreError('CORE_ERR_STATE', 'scheduler already started');
    this.started = true;
    const { clock } = this.components;
    await this.components.store.start();
    // health follows the store's connection as it changes, not a round later
    this.unsubscribeStore = this.components.store.onAvailability?.((up, reason) =>
      up ? this.noteStoreOk() : this.markStoreDown(reason ?? 'connection lost'),
    );
    await this.sipProbe?.start();
    const address = typeof this.init.address === 'function' ? this.init.address() : this.init.address;
    this.lease = new Lease(
      { store: this.components.registry, clock, logger: this.log },
      {
        record: {
          id: this.init.id,
          service: this.settings.schedulerService,
          address,
          region: this.init.region ?? 'default',
          ttlMs: this.settings.leaseTtlMs,
        },
      },
    );
    this.lease.on((e) => {
      if (e.type === 'lost' || e.type === 'error')
        this.warn.warn({ event: e.type, err: e.error }, 'scheduler lease');
    });
    await this.lease.start();
    await this.servers.start();
    if (this.init.timers !== false) {
      // rounds start on the interval's boundaries, so all schedulers of the cluster are in the same round
      const every = this.settings.roundIntervalMs;
      const first = every - (clock.now() % every);
      this.roundTimer = clock.setTimeout(() => {
        this.roundTimer = clock.setInterval(() => this.tick(), every);
        this.tick();
      }, first);
      this.probeTimer = clock.setInterval(() => void this.probeOnce(), this.settings.probeIntervalMs);
    }
    this.log.info({ settings: this.settings }, 'scheduler started');
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.components.clock.clearTimeout(this.roundTimer);
    this.components.clock.clearInterval(this.roundTimer);
    this.components.clock.clearInterval(this.probeTimer);
    await this.running;
    await this.probePass;
    await this.servers.stop();
    await this.lease?.stop();
    this.unsubscribeStore?.();
    await this.sipProbe?.stop();
    this.httpProbe?.close();
    await this.components.store.stop();
  }

  /**
   * The round timer. A tick that finds the previous round still running is not lost: the round it stands for runs
   * as soon as that one ends (a skipped tick used to cost a whole interval of latency to everything that fell due
   * meanwhile: the tail of the steady-rate latency). It runs only while the clock is still in a later interval
   * than the round that overran, so a scheduler never runs the same round number twice (two shares of one
   * snapshot), and at most one catch-up is pending.
   */
  private tick(): void {
    if (this.running) {
      this.catchUp = true;
      void this.runRound(); // counts and logs the overrun
      return;
    }
    void this.runRound();
  }

  /** Runs one round now (the timer calls this). Resolves when the round is over. */
  runRound(): Promise<void> {
    if (this.running) {
      // the machine is not fed this tick: the round in progress finishes first, this tick is skipped
      this.metrics.overruns.inc();
      this.warn.warn(
        { phase: this.machine.currentPhase, step: this.step },
        'round still running at the next tick',
      );
      return this.running;
    }
    const now = this.components.clock.now();
    const round = Math.floor(now / this.settings.roundIntervalMs);
    const p = this.drive({ type: 'tick', now }).finally(() => {
      this.running = undefined;
      if (!this.catchUp) return;
      this.catchUp = false;
      const current = Math.floor(this.components.clock.now() / this.settings.roundIntervalMs);
      if (this.started && current > round) {
        this.metrics.catchUps.inc();
        void this.runRound();
      }
    });
    this.running = p;
    return p;
  }

  private handle(e: RoundEvent): RoundAction {
    const a = this.machine.handle(e);
    this.step = a.type;
    return a;
  }

  private async drive(first: RoundEvent): Promise<void> {
    let action = this.handle(first);
    let membersAhead: Promise<ServiceRecord[]> | undefined;
    for (;;) {
      let next: RoundEvent;
      try {
        switch (action.type) {
          case 'none':
          case 'overrun':
            return;
          case 'abort':
            this.metrics.roundErrors.inc();
            this.noteStoreError(action.error);
            this.warn.warn({ err: action.error, phase: action.phase }, 'round aborted');
            return;
          case 'report':
            this.metrics.rounds.inc();
            // one line per busy round: the cluster tests check every share against total/N from these
            if (action.report.total > 0 || action.report.claimed > 0)
              this.log.info({ report: action.report }, 'round');
            else this.log.debug({ report: action.report }, 'round');
            this.metrics.share.set(action.report.share);
            this.metrics.members.set(action.report.n);
            this.noteStoreOk();
            this.step = 'record-share';
            await this.components.store.recordShare(
              action.report,
              this.settings.leaseTtlMs + 2 * this.settings.roundIntervalMs,
            );
            this.publishShare(action.report);
            this.step = 'sweep';
            await this.sweep();
            this.step = 'none';
            return;
          case 'reclaim':
            // the member list does not depend on the reclaim: both go out at once, one round trip less before the
            // PLACE (the latency from due to placed)
            membersAhead = this.components.registry.list(this.settings.schedulerService);
            membersAhead.catch(() => undefined); // awaited (and its error handled) in list-members
            next = { type: 'reclaimed', count: await this.components.store.reclaimExpired(action.now) };
            break;
          case 'list-members': {
            const live = await (membersAhead ??
              this.components.registry.list(this.settings.schedulerService));
            membersAhead = undefined;
            this.members = live.map((r) => r.id);
            next = { type: 'members', ids: this.members };
            break;
          }
          case 'take-snapshot':
            next = {
              type: 'snapshot',
              snapshot: await this.components.store.snapshot(
                action.round,
                action.members,
                action.windowEnd,
                action.ttlMs,
              ),
            };
            break;
          case 'claim':
            next = {
              type: 'claimed',
              conferences: await this.components.store.claim(
                this.init.id,
                action.n,
                action.windowEnd,
                action.leaseUntil,
              ),
            };
            break;
          case 'place':
            next = { type: 'placed', outcomes: await this.place(action.conferences) };
            break;
        }
      } catch (error) {
        next = { type: 'failed', error };
      }
      action = this.handle(next);
    }
  }

  /**
   * The share also goes into this scheduler's registry record, for feed subscribers (the console). Not awaited by
   * the round: the Lease serialises it behind its heartbeat, which may be slower than a round; one at a time.
   * Only when the share changed (or a lease TTL after the last publish): an idle scheduler's share stays 0 round
   * after round, and a registry update is two Redis scripts (read, write) and a feed event per round for nothing.
   */
  private publishShare(report: ShareReport): void {
    if (this.sharePublishing || !this.lease) return;
    const now = this.components.clock.now();
    if (report.share === this.publishedShare && now - this.publishedAt < this.settings.leaseTtlMs) return;
    this.publishedShare = report.share;
    this.publishedAt = now;
    this.sharePublishing = true;
    this.lease
      .update({ meta: { round: String(report.round), share: String(report.share) } })
      .catch((err: unknown) => {
        // not published: the next round tries again (not a lease TTL later)
        this.publishedShare = undefined;
        this.warn.warn({ err }, 'could not publish the share in the lease record');
      })
      .finally(() => {
        this.sharePublishing = false;
      });
  }

  private async place(conferences: ConferenceRequest[]): Promise<PlaceOutcome[]> {
    const byRegion = new Map<string, ConferenceRequest[]>();
    for (const c of conferences) {
      let list = byRegion.get(c.region);
      if (!list) byRegion.set(c.region, (list = []));
      list.push(c);
    }
    const batches: { batch: ConferenceRequest[]; candidates: Candidate[] }[] = [];
    for (const [region, list] of byRegion) {
      const candidates = this.servers.candidates(region);
      // what makes a conference unplaceable with `no-servers`, said where it is decided (rate-limited)
      if (candidates.length === 0)
        this.noCandidatesLog.warn(
          { region, conferences: list.length, view: this.servers.counts(), synced: this.servers.ready },
          'no candidate servers for a region',
        );
      for (let i = 0; i < list.length; i += this.settings.placeBatch)
        batches.push({ batch: list.slice(i, i + this.settings.placeBatch), candidates });
    }
    // Batches go out PLACE_PIPELINE at a time: ioredis writes them back to back on the one connection, so a
    // share of several batches costs about one round trip instead of one per batch, and each batch's feed write
    // overlaps the next batches' PLACE. Each script stays atomic; a conference is in one batch only.
    const results: PlaceOutcome[][] = new Array<PlaceOutcome[]>(batches.length);
    let next = 0;
    const lane = async () => {
      for (let i = next++; i < batches.length; i = next++) {
        const { batch, candidates } = batches[i]!;
        results[i] = await this.placeBatch(batch, candidates);
      }
    };
    await Promise.all(Array.from({ length: Math.min(PLACE_PIPELINE, batches.length) }, lane));
    return results.flat();
  }

  private async placeBatch(batch: ConferenceRequest[], candidates: Candidate[]): Promise<PlaceOutcome[]> {
    const end = this.metrics.placeSeconds.startTimer();
    const outcomes = await this.components.store.place(this.init.id, batch, candidates, {
      now: this.components.clock.now(),
      backoffMs: this.settings.backoffMs,
      backoffMaxMs: this.settings.backoffMaxMs,
    });
    end();
    // counters once per batch: a prom-client inc is a label lookup and a map write each
    let placed = 0;
    let lost = 0;
    for (let j = 0; j < outcomes.length; j++) {
      const o = outcomes[j]!;
      if (o.ok) placed++;
      else if (o.reason === 'claim-lost') lost++;
      else if (o.reason !== 'already-placed') this.metrics.noRoom.inc({ reason: o.reason });
      for (const l of this.listeners) l(batch[j]!, o);
    }
    if (placed) this.metrics.placements.inc(placed);
    if (lost) this.metrics.claimsLost.inc(lost);
    this.step = 'publish';
    await this.publish(batch, outcomes);
    this.step = 'place';
    return outcomes;
  }

  /**
   * Puts each new assignment on the registry feed, where the conference server (and anyone else) sees it: one
   * `putMany` for the batch (one Redis script), or one put each where the registry has no putMany.
   */
  private async publish(batch: ConferenceRequest[], outcomes: PlaceOutcome[]): Promise<void> {
    const service = this.settings.assignmentService;
    if (!service) return;
    const now = this.components.clock.now();
    const records: RecordInput[] = [];
    for (let i = 0; i < outcomes.length; i++) {
      const o = outcomes[i]!;
      if (!o.ok) continue;
      const c = batch[i]!;
      records.push({
        id: c.id,
        service,
        address: o.assignment.address,
        region: c.region,
        load: c.expectedParticipants,
        // the registry caps a TTL at a day; longer conferences are re-published when they move
        ttlMs: Math.min(86_400_000, Math.max(1000, o.assignment.expiresAt - now)),
        meta: {
          serverId: o.assignment.serverId,
          epoch: String(o.assignment.epoch),
          moves: String(o.assignment.moves),
        },
      });
    }
    if (records.length === 0) return;
    const { registry } = this.components;
    // the schedule table is the truth; the feed entry is a notification and is rewritten on the next move
    if (registry.putMany)
      await registry
        // the returned records are not used: the registry then neither sends nor builds them
        .putMany(records, { returnRecords: false })
        .catch((err: unknown) =>
          this.warn.warn({ err, count: records.length }, 'could not publish assignments'),
        );
    else
      await Promise.all(
        records.map((r) =>
          registry
            .put(r)
            .catch((err: unknown) =>
              this.warn.warn({ err, conference: r.id }, 'could not publish assignment'),
            ),
        ),
      );
  }

  private async sweep(): Promise<void> {
    const ended = await this.components.store.sweepExpired(
      this.components.clock.now(),
      this.settings.sweepBatch,
    );
    if (ended.length && this.settings.assignmentService)
      await Promise.all(
        ended.map((id) =>
          this.components.registry.remove(this.settings.assignmentService, id).catch(() => false),
        ),
      );
  }

  /**
   * Moves a placed conference to `to` (a live serving server with room), or without `to` to the best other
   * serving server with room (its region first, then its fallbacks), with a new epoch; the assignment is
   * republished so the new host claims it and the old one releases it (contract C8). Throws SCH_ERR_NOT_FOUND,
   * SCH_ERR_NOT_PLACED or SCH_ERR_NO_CAPACITY.
   */
  async moveConference(id: string, to?: string): Promise<ConferenceRecord> {
    const { store, clock } = this.components;
    const conf = await store.get(id);
    if (!conf) throw new SchedulerError('SCH_ERR_NOT_FOUND', `no conference ${id}`);
    if (conf.state !== 'placed' || !conf.assignment)
      throw new SchedulerError('SCH_ERR_NOT_PLACED', `conference ${id} is ${conf.state}, not placed`);
    let candidates: Candidate[];
    if (to === undefined) {
      // any serving server: the move is an operator's decision, so every region is a candidate (own region first)
      candidates = this.servers.candidates(conf.region, true);
    } else {
      if (to === conf.assignment.serverId)
        throw new SchedulerError('SCH_ERR_NO_CAPACITY', `conference ${id} is already on ${to}`);
      const target = this.servers.candidates(conf.region, true).find((c) => c.id === to);
      if (!target)
        throw new SchedulerError(
          'SCH_ERR_NO_CAPACITY',
          `server ${to} is not a live serving server with capacity`,
        );
      candidates = [target];
    }
    const now = clock.now();
    const outcome = await store.move(id, candidates, now);
    if (!outcome.ok) {
      if (outcome.reason === 'not-found')
        throw new SchedulerError('SCH_ERR_NOT_FOUND', `no conference ${id}`);
      if (outcome.reason === 'not-placed')
        throw new SchedulerError('SCH_ERR_NOT_PLACED', `conference ${id} is not placed now`);
      throw new SchedulerError(
        'SCH_ERR_NO_CAPACITY',
        to === undefined
          ? `no other serving server has room for ${conf.expectedParticipants} participants`
          : `server ${to} has no room for ${conf.expectedParticipants} participants (or is marked down)`,
      );
    }
    this.metrics.moved.inc();
    this.log.info(
      { conference: id, from: outcome.from, to: outcome.assignment.serverId },
      'conference moved',
    );
    await this.publish([conf], [{ id, ok: true, assignment: outcome.assignment }]);
    const after = await store.get(id);
    if (!after) throw new SchedulerError('SCH_ERR_NOT_FOUND', `conference ${id} ended while it was moved`);
    return after;
  }

  /** Ends a conference (API); removes its feed entry. */
  async endConference(id: string): Promise<boolean> {
    const ok = await this.components.store.end(id);
    if (ok && this.settings.assignmentService)
      await this.components.registry.remove(this.settings.assignmentService, id).catch(() => false);
    return ok;
  }

  private noteStoreError(err: unknown): void {
    if (hasCode(err, 'SCH_ERR_STORE_UNAVAILABLE') || fromRegistryCode(err) === 'SCH_ERR_STORE_UNAVAILABLE')
      this.markStoreDown(err instanceof Error ? err.message : String(err), err);
  }

  private markStoreDown(reason: string, err?: unknown): void {
    if (this.storeUp) this.log.error({ err, reason }, 'store unavailable');
    this.storeUp = false;
    this.lastStoreError = reason;
    this.metrics.storeUp.set(0);
  }

  private noteStoreOk(): void {
    if (!this.storeUp) this.log.info('store reachable again');
    this.storeUp = true;
    this.lastStoreError = undefined;
    this.metrics.storeUp.set(1);
  }

  /** The live schedulers seen by the last round (or just this one before any). */
  liveSchedulers(): string[] {
    return this.members.length ? [...new Set([...this.members, this.init.id])].sort() : [this.init.id];
  }

  /** Servers this scheduler probes: those whose rendezvous owner it is among the live schedulers. */
  owns(serverId: string): boolean {
    return chooseOwner(serverId, this.liveSchedulers()) === this.init.id;
  }

  /** One keep-alive pass over the servers this scheduler owns (the probe timer calls this). */
  probeOnce(): Promise<void> {
    const p = this.probeAll().finally(() => {
      if (this.probePass === p) this.probePass = undefined;
    });
    this.probePass = p;
    return p;
  }

  private async probeAll(): Promise<void> {
    let down: Set<string>;
    let reserved: string[];
    try {
      down = new Set(await this.components.store.downServers());
      reserved = (await this.components.store.reservations())
        .filter((r) => r.conferences > 0)
        .map((r) => r.serverId);
    } catch (err) {
      this.noteStoreError(err);
      return;
    }
    const now = this.components.clock.now();
    const holding = new Set(reserved);
    const ids = new Set<string>([...this.servers.all().map((r) => r.id), ...reserved, ...down]);
    await Promise.all(
      [...ids].map(async (id) => {
        if (!this.owns(id) || this.probing.has(id)) return;
        this.probing.add(id);
        try {
          const live = this.servers.get(id);
          // gone from the registry, holding nothing, silent for the grace: forget it (and its shared down mark)
          if (!live && !holding.has(id) && now - this.servers.lastSeen(id) >= this.settings.downGraceMs) {
            await this.drop(id, down.has(id));
            return;
          }
          await this.check(id, live, down.has(id));
        } catch (err) {
          this.noteStoreError(err);
          this.warn.warn({ err, server: id }, 'keep-alive step failed');
        } finally {
          this.probing.delete(id);
        }
      }),
    );
  }

  private async drop(id: string, markedDown: boolean): Promise<void> {
    if (markedDown) await this.components.store.restore(id);
    this.tracker.forget(id);
    this.servers.forget(id);
    this.log.info({ server: id, graceMs: this.settings.downGraceMs }, 'dead server dropped after its grace');
  }

  private async check(id: string, record: ServiceRecord | undefined, knownDown: boolean): Promise<void> {
    // a server whose registry record lapsed is probed at its last known address: a registry (Redis) outage must
    // not look like the death of every server; with no address known at all it counts as a failed probe
    const target = record ?? this.servers.lastKnown(id);
    const ok = target !== undefined && (await this.probe(target, this.settings.probeTimeoutMs));
    this.metrics.probes.inc({ result: ok ? 'ok' : 'fail' });
    if (ok) this.servers.seen(id);
    const action = this.tracker.result(id, ok, knownDown);
    if (action === 'mark-down') {
      const moved = await this.components.store.evacuate(id, this.components.clock.now());
      this.metrics.evacuations.inc();
      this.metrics.moved.inc(moved.length);
      this.log.warn(
        { server: id, moved: moved.length, misses: this.settings.misses },
        'server down: conferences moved',
      );
      if (record && record.state !== 'down')
        await this.components.registry
          .update(this.settings.serverService, id, { state: 'down' })
          .catch(() => undefined);
    } else if (action === 'mark-up') {
      await this.components.store.restore(id);
      this.wake('capacity', id);
      this.log.info({ server: id }, 'server answers again: serving');
      if (record?.state === 'down')
        await this.components.registry
          .update(this.settings.serverService, id, { state: 'serving' })
          .catch(() => undefined);
    }
  }
}
