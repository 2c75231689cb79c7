/**
 * The console process's parts, composed and started together: the state (pure core), the registry feed follower,
 * the tier poller, the action forwarder, the event hub and the HTTP server. `start()` / `stop()` for tests.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import {
  ConfigError,
  silentLogger,
  systemClock,
  type Clock,
  type Logger,
  type Startable,
  type TimerHandle,
} from '@switchyard/core';
import { RedisRegistryStore, type RegistryStore } from '@switchyard/registry';
import type { ConsoleConfig } from './settings.js';
import { ConsoleState } from './state/console-state.js';
import { ConsoleMetrics } from './metrics.js';
import { TierPoller, type PollTarget } from './sources/tier-poller.js';
import { RegistryFeed } from './sources/registry-feed.js';
import { ActionForwarder, type TierTokens, type TierUrls } from './actions/forwarder.js';
import { EventHub } from './http/event-hub.js';
import { buildServer } from './http/server.js';
import { PushPacer } from './http/push-pacer.js';
import { storedHash, type PasswordHash } from './auth/password.js';
import { LoginLimiter } from './auth/login-limiter.js';
import { SessionStore } from './auth/sessions.js';
import type { TierName } from './shared/model.js';

export interface ConsoleComponents {
  clock?: Clock;
  logger?: Logger;
  metrics?: ConsoleMetrics;
}

/** Defaults of the parts that are not settings (one comment per value). */
export const ConsoleInternals = Object.freeze({
  heartbeatMs: 15_000, // an SSE comment line this often keeps idle proxies from closing the stream
  maxBufferedBytes: 64 * 1024 * 1024, // a page this far behind is dropped and reconnects with a fresh snapshot
  maxSessions: 1000, // operator sessions kept at most (oldest dropped first)
  maxLimitedAddresses: 10_000, // client addresses tracked by the login limiter at most
  conferencePage: 1000, // conferences read per scheduler poll (pending ones; placed ones come from the feed)
  feedGapMs: 10, // a registry feed change waits at most this long after the last push (≤ 100 pushes/s)
});

/** Reads a secret from its file when given, else takes the inline value; a ConfigError names the field. */
export function readSecret(file: string, inline: string, field: string): string {
  if (!file) return inline.trim();
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(field, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

const here = path.dirname(fileURLToPath(import.meta.url));

export class ConsoleApp implements Startable {
  readonly state: ConsoleState;
  readonly metrics: ConsoleMetrics;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly hub: EventHub;
  private readonly poller: TierPoller;
  private readonly urls: TierUrls;
  private readonly tokens: TierTokens;
  private redis: Redis | undefined;
  private registry: RegistryStore | undefined;
  private feed: RegistryFeed | undefined;
  private server: FastifyInstance | undefined;
  private readonly pacer: PushPacer;
  /** When the console first noticed a change not pushed yet (any source / a registry feed event): timings. */
  private noticedAt: number | undefined;
  private feedAt: number | undefined;
  private sampleTimer: TimerHandle | undefined;
  private password: PasswordHash | undefined;
  private started = false;
  url = '';

  constructor(
    components: ConsoleComponents,
    private readonly config: Readonly<ConsoleConfig>,
  ) {
    this.clock = components.clock ?? systemClock;
    this.logger = components.logger ?? silentLogger;
    this.metrics = components.metrics ?? new ConsoleMetrics();
    this.urls = {
      scheduler: config.schedulerUrl,
      dispatcher: config.dispatcherUrl,
      'pop-router': config.popRouterUrl,
      balancer: config.balancerUrl,
    };
    this.tokens = {
      scheduler: readSecret(config.schedulerTokenFile, config.schedulerToken, 'schedulerTokenFile'),
      dispatcher: readSecret(config.dispatcherTokenFile, config.dispatcherToken, 'dispatcherTokenFile'),
      'pop-router': readSecret(config.popRouterTokenFile, config.popRouterToken, 'popRouterTokenFile'),
      balancer: readSecret(config.balancerTokenFile, config.balancerToken, 'balancerTokenFile'),
    };
    const endpoints = (Object.entries(this.urls) as [Exclude<TierName, 'registry'>, string[]][]).flatMap(
      ([tier, us]) => us.map((url) => ({ tier, url })),
    );
    this.state = new ConsoleState(
      endpoints,
      { samples: config.samples, auditSize: config.auditSize },
      config.redisUrl ? redactUrl(config.redisUrl) : null,
    );
    this.hub = new EventHub(
      { clock: this.clock, metrics: this.metrics },
      { heartbeatMs: ConsoleInternals.heartbeatMs, maxBufferedBytes: ConsoleInternals.maxBufferedBytes },
    );
    this.pacer = new PushPacer(
      { clock: this.clock, push: () => this.pushNow() },
      { pushMs: config.pushMs, feedGapMs: ConsoleInternals.feedGapMs },
    );
    const targets: PollTarget[] = endpoints.map((e) => ({ ...e, token: this.tokens[e.tier] }));
    this.poller = new TierPoller(
      {
        state: this.state,
        clock: this.clock,
        logger: this.logger,
        metrics: this.metrics,
        onChange: () => this.noteChange(),
      },
      targets,
      {
        intervalMs: config.pollMs,
        timeoutMs: config.pollTimeoutMs,
        conferencePage: ConsoleInternals.conferencePage,
        metricsEveryMs: config.rateMs,
      },
    );
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const c = this.config;
    const secret = readSecret(c.passwordFile, c.password, 'passwordFile');
    this.password = secret
      ? await storedHash(secret, c.passwordFile ? 'passwordFile' : 'password')
      : undefined;
    if (!this.password) this.logger.warn('no operator password configured: the console is read-only');
    const forwarder = new ActionForwarder(
      {
        state: this.state,
        clock: this.clock,
        logger: this.logger,
        metrics: this.metrics,
        onChange: () => this.noteChange(),
        isUp: (tier, url) => this.state.endpointsNow().some((e) => e.tier === tier && e.url === url && e.up),
        touched: (tier, url) => this.poller.pollNow(tier, url),
      },
      { urls: this.urls, tokens: this.tokens, timeoutMs: c.actionTimeoutMs },
    );
    this.server = await buildServer(
      {
        clock: this.clock,
        logger: this.logger,
        metrics: this.metrics,
        hub: this.hub,
        sessions: new SessionStore({ ttlMs: c.sessionTtlMs, maxSessions: ConsoleInternals.maxSessions }),
        limiter: new LoginLimiter({
          attempts: c.loginAttempts,
          windowMs: c.loginWindowMs,
          maxAddresses: ConsoleInternals.maxLimitedAddresses,
        }),
        forwarder,
        // what is pending goes to the connected pages first: a snapshot is the state as the pages have it
        snapshot: () => {
          this.pushNow();
          return this.state.snapshot(this.clock.now());
        },
        sessionPage: (owner, offset, limit) => this.state.sessionPage(owner, offset, limit),
        password: this.password,
        health: () => ({
          ok: true,
          tiers: this.state.endpointsNow().map((e) => ({ tier: e.tier, url: e.url, up: e.up })),
        }),
      },
      { webRoot: c.webRoot || path.resolve(here, '../dist-web'), sessionTtlMs: c.sessionTtlMs },
    );
    if (c.redisUrl) {
      // the registry blocks on its stream reads; it keeps retrying while Redis is down (shown as down)
      this.redis = new Redis(c.redisUrl, {
        retryStrategy: (n) => Math.min(100 * n, 1000),
        lazyConnect: false,
      });
      let down = false;
      this.redis.on('error', (err: NodeJS.ErrnoException) => {
        if (!down) this.logger.error({ code: err.code }, 'redis connection error');
        down = true;
      });
      this.redis.on('ready', () => (down = false));
      this.registry = new RedisRegistryStore(
        { redis: this.redis, clock: this.clock, logger: this.logger },
        { prefix: c.redisPrefix },
      );
      await this.registry.start();
      const pinger = this.redis;
      this.feed = new RegistryFeed(
        {
          registry: this.registry,
          state: this.state,
          clock: this.clock,
          logger: this.logger,
          onChange: () => this.noteChange(),
          onFeed: () => this.noteChange(true),
          ping: async () => pinger.status === 'ready' && (await pinger.ping()) === 'PONG',
        },
        { servers: c.serverService, assignments: c.assignmentService, schedulers: c.schedulerService },
      );
      await this.feed.start();
    }
    await this.poller.start();
    this.state.sample(this.clock.now());
    this.sampleTimer = this.clock.setInterval(() => {
      this.state.sample(this.clock.now());
      this.noteChange();
    }, c.sampleMs);
    this.hub.start();
    await this.server.listen({ host: c.host, port: c.port });
    const addr = this.server.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : c.port;
    this.url = `http://${c.host.includes(':') ? `[${c.host}]` : c.host}:${port}`;
  }

  /** Stops taking new pages, ends the streams, then stops polling and following the feed. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.hub.close();
    await this.server?.close();
    this.clock.clearInterval(this.sampleTimer);
    this.pacer.cancel();
    await this.poller.stop();
    await this.feed?.stop();
    await this.registry?.stop();
    this.redis?.disconnect();
  }

  /** A change reached the state: noted (for the push-delay figures) and pushed. */
  private noteChange(fromFeed = false): void {
    const now = this.clock.now();
    this.noticedAt ??= now;
    if (fromFeed) this.feedAt ??= now;
    this.schedulePush(fromFeed);
  }

  private schedulePush(urgent = false): void {
    if (this.started) this.pacer.schedule(urgent);
  }

  /** Sends what changed now (to every page: each take() must reach them all, deltas build on each other). */
  private pushNow(): void {
    this.pacer.cancel();
    if (!this.state.changed) return;
    const now = this.clock.now();
    this.pacer.pushed();
    const patch = this.state.take(now);
    if (this.noticedAt !== undefined) {
      patch.noticedAt = this.noticedAt;
      this.metrics.pushDelay.observe({ source: 'any' }, (now - this.noticedAt) / 1000);
    }
    if (this.feedAt !== undefined) {
      patch.feedAt = this.feedAt;
      this.metrics.pushDelay.observe({ source: 'feed' }, (now - this.feedAt) / 1000);
    }
    this.noticedAt = this.feedAt = undefined;
    this.hub.broadcast(patch);
    // a keyed section with more changes than one event carries sends the rest on the next push
    if (this.state.changed) this.noteChange();
  }
}

/** A Redis URL without its password (it is shown on the page). */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis';
  }
}
