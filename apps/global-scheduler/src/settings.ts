/**
 * Every setting of the scheduler, declared once: type and bounds, default (with why), `--help` line and env name.
 * `--help`, env parsing, the defaults object, validation and the frozen config all derive from these two schemas
 * (see `defineSettings` in @switchyard/core). {@link SchedulerTunables} are the scheduler's own (a `Scheduler`
 * built in code validates its init against them too); {@link SchedulerProcessSettings} adds the process's.
 */
import os from 'node:os';
import { Type, type Static } from '@sinclair/typebox';
import { defineSettings, parseConfig, setting } from '@switchyard/core';

const ms = (minimum: number, maximum = 86_400_000) => Type.Integer({ minimum, maximum });
/** `host:port` or a comma list of them. */
const HOST_PORTS = '^[^:,]+:[0-9]{1,5}(,[^:,]+:[0-9]{1,5})*$';
const serviceName = () => Type.String({ pattern: '^[A-Za-z0-9._-]{0,64}$' });

/** The scheduler's tunables; defaults are the production values, with the reason for each. */
export const SchedulerTunables = Type.Object({
  // one second: a new conference waits half a round on average
  roundIntervalMs: setting(ms(10, 600_000), 1000, 'round interval', 'SCHEDULER_ROUND_MS'),
  // conferences starting within the next minute are placed now, so servers can get ready
  windowMs: setting(
    ms(0),
    60_000,
    'scheduling window (conferences starting within it are placed)',
    'SCHEDULER_WINDOW_MS',
  ),
  // five rounds: far longer than a round takes, short enough that a crash costs little
  claimLeaseMs: setting(ms(100), 5000, 'claim lease', 'SCHEDULER_CLAIM_LEASE_MS'),
  // a dead scheduler drops out of N within three seconds
  leaseTtlMs: setting(ms(100), 3000, "the scheduler's registry lease TTL", 'SCHEDULER_LEASE_TTL_MS'),
  // with misses 3: a dead server is detected in about three seconds
  probeIntervalMs: setting(ms(10), 1000, 'keep-alive probe interval', 'SCHEDULER_PROBE_MS'),
  // one lost probe is not a failure; three in a row is
  misses: setting(
    Type.Integer({ minimum: 1, maximum: 100 }),
    3,
    'failed probes in a row before a server is down',
    'SCHEDULER_MISSES',
  ),
  // half the interval, so probes never pile up
  probeTimeoutMs: setting(
    ms(1, 60_000),
    500,
    'one probe timeout (HTTP or SIP OPTIONS)',
    'SCHEDULER_PROBE_TIMEOUT_MS',
  ),
  // a dead server stays listed (down, with its last-seen time) this long after its record lapsed, then is dropped
  downGraceMs: setting(
    ms(0),
    300_000,
    'how long a server that stopped answering stays listed as down',
    'SCHEDULER_DOWN_GRACE_MS',
  ),
  // ~1-2 ms of Redis time per script at 50 candidates
  placeBatch: setting(
    Type.Integer({ minimum: 1, maximum: 5000 }),
    200,
    'conferences per atomic placement script',
    'SCHEDULER_PLACE_BATCH',
  ),
  // ending conferences is cheap; bounded so a backlog cannot stall a round
  sweepBatch: setting(
    Type.Integer({ minimum: 1, maximum: 100_000 }),
    500,
    'expired conferences ended per round',
    'SCHEDULER_SWEEP_BATCH',
  ),
  // an hour: a typical meeting
  defaultDurationS: setting(
    Type.Integer({ minimum: 1, maximum: 7 * 86_400 }),
    3600,
    'conference duration when a request gives none, seconds',
    'SCHEDULER_DEFAULT_DURATION_S',
  ),
  // a year: far enough for any booking, near enough that a typo (ms vs s, 9e15) is refused
  maxStartAheadMs: setting(
    Type.Integer({ minimum: 0, maximum: 10 * 365 * 86_400_000 }),
    365 * 86_400_000,
    'how far in the future a startAt may lie',
    'SCHEDULER_MAX_START_AHEAD_MS',
  ),
  // a minute of clock skew between client and scheduler; older starts are refused rather than placed and swept
  maxStartBehindMs: setting(
    ms(0),
    60_000,
    'how far in the past a startAt may lie',
    'SCHEDULER_MAX_START_BEHIND_MS',
  ),
  // a conference nobody can take is retried after this, doubling per miss (a server may free room any time)
  backoffMs: setting(ms(1), 1000, 'first retry delay of an unplaceable conference', 'SCHEDULER_BACKOFF_MS'),
  // the doubling stops here: a long-unplaceable conference is still retried twice a minute
  backoffMaxMs: setting(
    ms(1),
    30_000,
    'longest retry delay of an unplaceable conference',
    'SCHEDULER_BACKOFF_MAX_MS',
  ),
  schedulerService: setting(
    serviceName(),
    'scheduler',
    'registry service of schedulers',
    'SCHEDULER_SERVICE',
  ),
  serverService: setting(
    serviceName(),
    'conference-server',
    'registry service of conference servers',
    'SCHEDULER_SERVER_SERVICE',
  ),
  assignmentService: setting(
    serviceName(),
    'conference',
    "registry service for assignments ('' = none)",
    'SCHEDULER_ASSIGNMENT_SERVICE',
  ),
  // none by default: a region's conferences stay in it unless fallbackAnyRegion lets any region take them
  fallbacks: setting(
    Type.String({
      pattern: '^$|^[a-z0-9-]+=[a-z0-9-]+(,[a-z0-9-]+)*(;[a-z0-9-]+=[a-z0-9-]+(,[a-z0-9-]+)*)*$',
    }),
    '',
    'fallback regions, nearest first: "eu=us,ap;us=eu"',
    'SCHEDULER_FALLBACKS',
  ),
  // better placed far away than not at all (env SCHEDULER_FALLBACK_ANY=false turns it off)
  fallbackAnyRegion: setting(
    Type.Boolean(),
    true,
    'after the fallbacks, any region may take a conference',
    'SCHEDULER_FALLBACK_ANY',
  ),
});
export type SchedulerSettings = Static<typeof SchedulerTunables>;

/** The process's own settings, then every tunable: the whole command line. */
export const SchedulerProcessSettings = defineSettings({
  name: 'global-scheduler',
  summary: 'tier 1: a scheduler of the cluster that shares the conference workload over Redis',
  schema: Type.Object({
    id: setting(
      Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' }),
      `sched-${os.hostname().replace(/[^A-Za-z0-9._-]/g, '-')}-${process.pid}`,
      'scheduler id (unique in the cluster)',
      'SCHEDULER_ID',
    ),
    host: setting(Type.String({ minLength: 1 }), '127.0.0.1', 'API listen address', 'SCHEDULER_HOST'),
    port: setting(
      Type.Integer({ minimum: 0, maximum: 65535 }),
      8080,
      'API listen port (0 = any free port)',
      'SCHEDULER_PORT',
    ),
    advertise: setting(
      Type.String(),
      '',
      "address published in the registry ('' = host:port as bound)",
      'SCHEDULER_ADVERTISE',
    ),
    store: setting(
      Type.Union([Type.Literal('redis'), Type.Literal('memory')]),
      'redis',
      'redis | memory (memory: one scheduler, no Redis)',
      'SCHEDULER_STORE',
    ),
    redis: setting(
      Type.String({ pattern: '^rediss?://' }),
      'redis://127.0.0.1:6379',
      'Redis URL (single Redis)',
      'REDIS_URL',
    ),
    redisCluster: setting(
      Type.Array(Type.String({ pattern: HOST_PORTS })),
      [],
      'Redis Cluster seed nodes host:port (repeat or comma list; replaces --redis)',
      'REDIS_CLUSTER',
    ),
    redisSentinels: setting(
      Type.Array(Type.String({ pattern: HOST_PORTS })),
      [],
      'Redis Sentinel nodes host:port (repeat or comma list; replaces --redis)',
      'REDIS_SENTINELS',
    ),
    redisSentinelName: setting(
      Type.String({ minLength: 1 }),
      'mymaster',
      'master name the sentinels watch',
      'REDIS_SENTINEL_NAME',
    ),
    // none: the whole schedule under one hash tag, as single-region deployments have always had it
    regionPartitions: setting(
      Type.Array(Type.String({ pattern: '^[a-z0-9-]{1,32}(,[a-z0-9-]{1,32})*$' })),
      [],
      'regions whose schedule gets its own hash tag (its own Redis Cluster slot); others share the default one (repeat or comma list)',
      'SCHEDULER_REGION_PARTITIONS',
    ),
    // longer than one placement step takes even on a loaded machine, short enough that a crash frees capacity soon
    regionReserveTtlMs: setting(
      ms(100, 600_000),
      10_000,
      'life of an unconfirmed cross-region reservation before the reconciler settles it',
      'SCHEDULER_REGION_RESERVE_TTL_MS',
    ),
    // off: only crash tests turn it on
    faultPauseAfterReserve: setting(
      Type.Boolean(),
      false,
      'testing only: at the first cross-region RESERVE print {"fault":"paused-after-reserve"} and never commit (a test kills -9 the process there)',
      'SCHEDULER_FAULT_PAUSE_AFTER_RESERVE',
    ),
    // 0: asynchronous replication, as Redis ships (a placement acknowledged just before a master dies can be lost)
    redisWaitReplicas: setting(
      Type.Integer({ minimum: 0, maximum: 16 }),
      0,
      'WAIT for this many replicas after each placement/create/move/end script (0 = no WAIT)',
      'SCHEDULER_REDIS_WAIT_REPLICAS',
    ),
    // a tenth of a second: a healthy replica on a LAN acknowledges in well under a millisecond
    redisWaitTimeoutMs: setting(
      ms(1, 10_000),
      100,
      'longest WAIT; a WAIT that times out short is counted, the write stands',
      'SCHEDULER_REDIS_WAIT_TIMEOUT_MS',
    ),
    prefix: setting(
      Type.String({ pattern: '^[A-Za-z0-9_-]{1,32}$' }),
      'sy',
      'Redis key prefix (registry and schedule keys)',
      'SCHEDULER_PREFIX',
    ),
    token: setting(
      Type.String(),
      '',
      'bearer token for API mutations (prefer --token-file)',
      'SCHEDULER_TOKEN',
      { secret: true },
    ),
    tokenFile: setting(Type.String(), '', 'file holding the bearer token', 'SCHEDULER_TOKEN_FILE'),
    region: setting(
      Type.String({ pattern: '^[a-z0-9-]{1,32}$' }),
      'default',
      'default region of conferences created without one',
      'SCHEDULER_REGION',
    ),
    ...SchedulerTunables.properties,
  }),
  examples: [
    'global-scheduler --id sched-1 --port 8080 --redis redis://127.0.0.1:6379 --token-file /run/secrets/scheduler-token',
    'global-scheduler --redis-cluster 10.0.0.1:7000,10.0.0.2:7000 --token-file /run/secrets/scheduler-token',
    'global-scheduler --store memory --token dev-token-123 --port 0',
  ],
});
export type SchedulerProcessConfig = Static<typeof SchedulerProcessSettings.schema>;

/** The production defaults of every tunable (derived from the schema). */
export const SchedulerDefaults: Readonly<SchedulerSettings> = parseConfig(SchedulerTunables, {});

/** Short timers for tests. */
export const SchedulerTestProfile: Readonly<SchedulerSettings> = Object.freeze({
  ...SchedulerDefaults,
  roundIntervalMs: 100,
  claimLeaseMs: 500,
  leaseTtlMs: 600,
  probeIntervalMs: 100,
  probeTimeoutMs: 80,
  backoffMs: 100,
  backoffMaxMs: 800,
});

/** Picks the tunables out of a larger object (the process config), so nothing is copied field by field. */
export function tunablesOf(config: Partial<SchedulerSettings>): Partial<SchedulerSettings> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(SchedulerTunables.properties))
    if ((config as Record<string, unknown>)[k] !== undefined) out[k] = (config as Record<string, unknown>)[k];
  return out as Partial<SchedulerSettings>;
}

/** `"eu=us,ap;us=eu"` → `{ eu: ['us','ap'], us: ['eu'] }` (the pattern above has validated it). */
export function parseFallbacks(s: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const part of s.split(';').filter(Boolean)) {
    const [region, list] = part.split('=') as [string, string];
    out[region] = list.split(',');
  }
  return out;
}
