/**
 * Worker media (contract C7): on a conference's first INVITE the worker allocates a mixer through the container
 * balancer (`POST /v1/allocations { service, key: <conference id> }`, contract C4) and answers every participant of
 * that conference with the mixer's RTP address in its SDP. One allocation per conference and worker: cached, and
 * concurrent first INVITEs share one request. Without a balancer URL there is no allocator and the worker answers
 * with its own address, as before.
 *
 * The settings travel to the workers by environment (a forked worker inherits the primary's), so the primary needs
 * no knowledge of them; `--balancer-url` etc. on the dispatcher's command line set the same variables.
 */
import { Type, type Static } from '@sinclair/typebox';
import {
  RateLimitedLog,
  defineSettings,
  setting,
  systemClock,
  type Clock,
  type Logger,
} from '@switchyard/core';
import { DispatcherError } from '../errors.js';

export const MediaSettings = defineSettings({
  name: 'host-dispatcher worker media',
  summary: 'mixer allocation through the container balancer',
  schema: Type.Object({
    balancerUrl: setting(
      Type.String({ pattern: '^(https?://.+)?$' }),
      '',
      'container balancer base URL; empty: no media allocation (the worker answers with its own address)',
      'SIPDISP_BALANCER_URL',
    ),
    balancerToken: setting(Type.String(), '', 'bearer token for the balancer', 'SIPDISP_BALANCER_TOKEN', {
      secret: true,
    }),
    mediaService: setting(
      Type.String({ minLength: 1 }),
      'mixer',
      'balancer service that serves media',
      'SIPDISP_MEDIA_SERVICE',
    ),
    mediaTimeoutMs: setting(
      Type.Integer({ minimum: 10, maximum: 30_000 }),
      5000,
      'one allocation request timeout, ms (well below SIP Timer B, 32 s: the caller retransmits and gets 100)',
      'SIPDISP_MEDIA_TIMEOUT_MS',
    ),
    mediaCheckMs: setting(
      Type.Integer({ minimum: 100, maximum: 600_000 }),
      1000,
      'how often a worker checks the balancer still lists the mixers of its conferences, ms; one that vanished gets its conference a new mixer and its participants a re-INVITE',
      'SIPDISP_MEDIA_CHECK_MS',
    ),
  }),
});
export type MediaConfig = Static<typeof MediaSettings.schema>;

/** Where a conference's media goes. */
export interface MediaAddress {
  address: string;
  port: number;
  /** The balancer's container id (a new one after the old mixer died). */
  containerId: string;
}

/** What the SIP UAS needs: the media address of a conference, now or after an allocation. */
export interface MediaSource {
  /** Cached address, or undefined when the conference has none yet. */
  cached(conferenceId: string): MediaAddress | undefined;
  /** Allocates (or joins the allocation in flight). Throws {@link DispatcherError} (`DSP_ERR_MEDIA_…`). */
  allocate(conferenceId: string): Promise<MediaAddress>;
  /** The conference ended here: forget its allocation. */
  release(conferenceId: string): void;
  /** A dialog adopted from a crashed worker brings its conference's allocation: cache it (issue 9 §6). */
  adopt?(conferenceId: string, address: MediaAddress): void;
}

interface AllocationAnswer {
  containerId?: unknown;
  allocation?: { rtp?: { address?: unknown; port?: unknown } };
}

export class BalancerMediaSource implements MediaSource {
  private readonly cache = new Map<string, MediaAddress>();
  private readonly pending = new Map<string, Promise<MediaAddress>>();
  readonly counters = { allocations: 0, failures: 0, cacheHits: 0 };
  private readonly log: RateLimitedLog | undefined;

  constructor(
    private readonly components: { fetch?: typeof fetch; logger?: Logger; clock?: Clock },
    private readonly config: Readonly<MediaConfig>,
  ) {
    const { logger } = components;
    // failures are logged at a bounded rate: a balancer outage must not flood the log
    if (logger) this.log = new RateLimitedLog(logger, components.clock ?? systemClock, 5, 1000);
  }

  cached(conferenceId: string): MediaAddress | undefined {
    const a = this.cache.get(conferenceId);
    if (a) this.counters.cacheHits++;
    return a;
  }

  allocate(conferenceId: string): Promise<MediaAddress> {
    const hit = this.cache.get(conferenceId);
    if (hit) return Promise.resolve(hit);
    let p = this.pending.get(conferenceId);
    if (!p) {
      p = this.request(conferenceId)
        .catch((err: unknown) => {
          this.log?.warn({ err, conference: conferenceId }, 'media allocation failed');
          throw err;
        })
        .finally(() => this.pending.delete(conferenceId));
      this.pending.set(conferenceId, p);
    }
    return p;
  }

  release(conferenceId: string): void {
    this.cache.delete(conferenceId);
  }

  adopt(conferenceId: string, address: MediaAddress): void {
    if (!this.cache.has(conferenceId)) this.cache.set(conferenceId, { ...address });
  }

  private async request(conferenceId: string): Promise<MediaAddress> {
    const f = this.components.fetch ?? fetch;
    let res: Response;
    let body: AllocationAnswer;
    try {
      res = await f(`${this.config.balancerUrl.replace(/\/$/, '')}/v1/allocations`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(this.config.balancerToken ? { authorization: `Bearer ${this.config.balancerToken}` } : {}),
        },
        body: JSON.stringify({ service: this.config.mediaService, key: conferenceId }),
        signal: AbortSignal.timeout(this.config.mediaTimeoutMs),
      });
      body = (await res.json().catch(() => ({}))) as AllocationAnswer;
    } catch (err) {
      this.counters.failures++;
      throw new DispatcherError('DSP_ERR_MEDIA_FAILED', `balancer unreachable for ${conferenceId}`, {
        cause: err,
      });
    }
    if (res.status === 503) {
      this.counters.failures++;
      throw new DispatcherError('DSP_ERR_MEDIA_UNAVAILABLE', `no ${this.config.mediaService} container now`);
    }
    const rtp = body.allocation?.rtp;
    if (
      !res.ok ||
      typeof rtp?.address !== 'string' ||
      typeof rtp.port !== 'number' ||
      !Number.isInteger(rtp.port) ||
      rtp.port < 1 ||
      rtp.port > 65535
    ) {
      this.counters.failures++;
      throw new DispatcherError(
        'DSP_ERR_MEDIA_FAILED',
        `balancer answered ${res.status} without an RTP address for ${conferenceId}`,
        { details: { status: res.status } },
      );
    }
    const a: MediaAddress = {
      address: rtp.address,
      port: rtp.port,
      containerId: typeof body.containerId === 'string' ? body.containerId : '',
    };
    this.counters.allocations++;
    this.cache.set(conferenceId, a);
    return a;
  }
}

/** The worker's media source from its environment, or undefined when no balancer is configured. */
export function mediaSourceFromEnv(
  env: NodeJS.ProcessEnv,
  components: { logger?: Logger; clock?: Clock } = {},
): BalancerMediaSource | undefined {
  const r = MediaSettings.load([], env);
  if (r.help || !r.config.balancerUrl) return undefined;
  return new BalancerMediaSource(components, r.config);
}

/**
 * The dispatcher declares the media settings among its own (`--balancer-url` …, from {@link MediaSettings}); this
 * gives the environment the primary sets from its validated config so that its forked workers inherit them.
 */
export function mediaEnv(config: Readonly<MediaConfig>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [field, raw] of Object.entries(MediaSettings.schema.properties)) {
    const name = (raw as { env?: string }).env;
    if (name) env[name] = String(config[field as keyof MediaConfig]);
  }
  return env;
}
