/**
 * Polls each configured tier process's control API on a short interval (one request in flight per process) and
 * feeds the answers to the state. An answer that does not match the tier's contract counts as the tier being down
 * (with the reason), never as data.
 */
import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import type { Clock, Logger, Startable, TimerHandle } from '@switchyard/core';
import { RateLimitedLog } from '@switchyard/core';
import type { TierName } from '../shared/model.js';
import type { ConsoleState } from '../state/console-state.js';
import {
  ConferencePage,
  HostList,
  SchedulerList,
  ServerList,
  ServiceList,
  SessionList,
  WorkerList,
} from '@switchyard/tier-api';
import type { PopRouterData, SchedulerData } from '../state/tier-data.js';
import { getJson, getText } from './http-json.js';
import { SwitchyardError } from '@switchyard/core';
import type { ConsoleMetrics } from '../metrics.js';

export interface PollTarget {
  tier: Exclude<TierName, 'registry'>;
  url: string;
  token: string;
}

export interface PollerInit {
  intervalMs: number;
  timeoutMs: number;
  /** Conferences read per scheduler poll (the first page: pending ones; placed ones come from the feed). */
  conferencePage: number;
  /** How often each process's `/metrics` is read for its traffic counters (at most once per poll). */
  metricsEveryMs: number;
}

class BadAnswer extends Error {}

function check<T extends TSchema>(
  schema: T,
  v: unknown,
  what: string,
): import('@sinclair/typebox').Static<T> {
  if (!Value.Check(schema, v)) {
    const first = Value.Errors(schema, v).First();
    throw new BadAnswer(`${what}: not the contract's shape (${first?.path ?? ''} ${first?.message ?? ''})`);
  }
  return v;
}

export class TierPoller implements Startable {
  private timer: TimerHandle | undefined;
  private readonly inFlight = new Set<string>();
  private readonly again = new Set<string>();
  /** When each process's `/metrics` was last read. */
  private readonly scrapedAt = new Map<string, number>();
  private readonly warn: RateLimitedLog;
  private stopped = false;

  constructor(
    private readonly components: {
      state: ConsoleState;
      clock: Clock;
      logger: Logger;
      metrics: ConsoleMetrics;
      onChange: () => void;
    },
    private readonly targets: PollTarget[],
    private readonly init: PollerInit,
  ) {
    this.warn = new RateLimitedLog(components.logger, components.clock, 5, 10_000);
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.pollAll();
    this.timer = this.components.clock.setInterval(() => void this.pollAll(), this.init.intervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.components.clock.clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Polls one process now (after an operator action changed it, so the page shows the effect without waiting
   * for the next round). A poll already in flight is asked to run once more when it ends: its answer may predate
   * the change.
   */
  pollNow(tier: PollTarget['tier'], url: string): void {
    if (this.stopped) return;
    const t = this.targets.find((x) => x.tier === tier && x.url === url);
    if (!t) return;
    const k = `${t.tier} ${t.url}`;
    if (this.inFlight.has(k)) this.again.add(k);
    else void this.pollOne(t);
  }

  /** One round: every target not still busy with the previous one. */
  async pollAll(): Promise<void> {
    await Promise.all(this.targets.map((t) => this.pollOne(t)));
  }

  /**
   * Reads the process's `/metrics` when `metricsEveryMs` has passed since the last read (its traffic counters).
   * A failed read only leaves the rates as they were: the process is up (its API just answered).
   */
  private async scrape(t: PollTarget, k: string, base: string): Promise<void> {
    const { state, clock } = this.components;
    const last = this.scrapedAt.get(k);
    if (last !== undefined && clock.now() - last < this.init.metricsEveryMs) return;
    this.scrapedAt.set(k, clock.now());
    try {
      const text = await getText(`${base}/metrics`, t.token, this.init.timeoutMs);
      if (!this.stopped) state.metricsOk(t.tier, t.url, text, clock.now());
    } catch (err) {
      this.components.metrics.pollErrors.inc({ tier: t.tier });
      this.warn.warn(
        { tier: t.tier, url: t.url, code: (err as SwitchyardError).code },
        'metrics read failed',
      );
    }
  }

  private async pollOne(t: PollTarget): Promise<void> {
    const k = `${t.tier} ${t.url}`;
    if (this.inFlight.has(k)) return;
    this.inFlight.add(k);
    const { state, clock, metrics } = this.components;
    const started = clock.now();
    try {
      const base = t.url.replace(/\/+$/, '');
      const get = (p: string) => getJson(`${base}${p}`, t.token, this.init.timeoutMs);
      const now = () => clock.now();
      switch (t.tier) {
        case 'scheduler': {
          const [schedulers, servers, page] = await Promise.all([
            get('/v1/schedulers'),
            get('/v1/servers'),
            get(`/v1/conferences?limit=${this.init.conferencePage}`),
          ]);
          const data: SchedulerData = {
            schedulers: check(SchedulerList, schedulers, 'GET /v1/schedulers'),
            servers: check(ServerList, servers, 'GET /v1/servers'),
            conferences: check(ConferencePage, page, 'GET /v1/conferences').items,
          };
          if (!this.stopped) state.pollOk('scheduler', t.url, data, now(), now() - started);
          break;
        }
        case 'dispatcher': {
          const data = check(WorkerList, await get('/workers'), 'GET /workers');
          if (!this.stopped) state.pollOk('dispatcher', t.url, data, now(), now() - started);
          break;
        }
        case 'pop-router': {
          const hosts = check(HostList, await get('/v1/hosts'), 'GET /v1/hosts');
          const sessions = check(
            SessionList,
            await get(`/v1/sessions?owner=${encodeURIComponent(hosts.self)}`),
            'GET /v1/sessions',
          );
          const data: PopRouterData = { ...hosts, sessions: sessions.sessions };
          if (!this.stopped) state.pollOk('pop-router', t.url, data, now(), now() - started);
          break;
        }
        case 'balancer': {
          const data = check(ServiceList, await get('/v1/services'), 'GET /v1/services');
          if (!this.stopped) state.pollOk('balancer', t.url, data, now(), now() - started);
          break;
        }
      }
      await this.scrape(t, k, base);
    } catch (err) {
      const reason =
        err instanceof BadAnswer
          ? err.message
          : err instanceof SwitchyardError
            ? `${err.code}: ${err.message}`
            : String(err);
      metrics.pollErrors.inc({ tier: t.tier });
      this.warn.warn({ tier: t.tier, url: t.url, reason }, 'tier poll failed');
      if (!this.stopped) state.pollFailed(t.tier, t.url, reason);
    } finally {
      this.inFlight.delete(k);
      if (!this.stopped && state.changed) this.components.onChange();
      if (this.again.delete(k) && !this.stopped) void this.pollOne(t);
    }
  }
}
