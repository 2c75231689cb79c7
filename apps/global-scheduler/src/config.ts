/** The scheduler process's configuration: flags and env (one table, `--help`), validated once, frozen. */
import fs from 'node:fs';
import os from 'node:os';
import { Type, type Static } from '@sinclair/typebox';
import { ConfigError, parseConfig, type CliSpec } from '@switchyard/core';
import { SchedulerDefaults as D } from './defaults.js';

export const ConfigSchema = Type.Object({
  id: Type.String({
    minLength: 1,
    maxLength: 64,
    pattern: '^[A-Za-z0-9._-]+$',
    default: `sched-${os.hostname()}-${process.pid}`,
  }),
  host: Type.String({ minLength: 1, default: '127.0.0.1' }),
  port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
  advertise: Type.Optional(Type.String({ minLength: 1 })),
  store: Type.Union([Type.Literal('redis'), Type.Literal('memory')], { default: 'redis' }),
  redis: Type.String({ pattern: '^rediss?://', default: 'redis://127.0.0.1:6379' }),
  prefix: Type.String({ pattern: '^[A-Za-z0-9_-]{1,32}$', default: 'sy' }),
  token: Type.Optional(Type.String({ minLength: 8 })),
  tokenFile: Type.Optional(Type.String({ minLength: 1 })),
  region: Type.String({ pattern: '^[a-z0-9-]{1,32}$', default: 'default' }),
  fallbacks: Type.String({ default: '', description: 'eu=us,ap;us=eu' }),
  fallbackAnyRegion: Type.Boolean({ default: D.fallbackAnyRegion }),
  roundIntervalMs: Type.Integer({ minimum: 10, maximum: 600_000, default: D.roundIntervalMs }),
  windowMs: Type.Integer({ minimum: 0, default: D.windowMs }),
  claimLeaseMs: Type.Integer({ minimum: 100, default: D.claimLeaseMs }),
  leaseTtlMs: Type.Integer({ minimum: 100, default: D.leaseTtlMs }),
  probeIntervalMs: Type.Integer({ minimum: 10, default: D.probeIntervalMs }),
  misses: Type.Integer({ minimum: 1, maximum: 100, default: D.misses }),
  probeTimeoutMs: Type.Integer({ minimum: 1, default: D.probeTimeoutMs }),
  placeBatch: Type.Integer({ minimum: 1, maximum: 5000, default: D.placeBatch }),
  assignmentService: Type.String({ default: D.assignmentService }),
});
export type SchedulerConfig = Static<typeof ConfigSchema> & {
  token: string;
  fallbackMap: Record<string, string[]>;
};

export const cliSpec: CliSpec = {
  name: 'global-scheduler',
  summary: 'tier 1: a scheduler of the cluster that shares the conference workload over Redis',
  options: {
    id: {
      type: 'string',
      env: 'SCHEDULER_ID',
      doc: 'scheduler id (unique in the cluster)',
      defaultText: 'sched-<host>-<pid>',
    },
    host: { type: 'string', env: 'SCHEDULER_HOST', doc: 'API listen address', defaultText: '127.0.0.1' },
    port: {
      type: 'string',
      env: 'SCHEDULER_PORT',
      doc: 'API listen port (0 = any free port)',
      defaultText: '8080',
    },
    advertise: {
      type: 'string',
      env: 'SCHEDULER_ADVERTISE',
      doc: 'address published in the registry',
      defaultText: 'host:port',
    },
    store: {
      type: 'string',
      env: 'SCHEDULER_STORE',
      doc: 'redis | memory (memory: one scheduler, no Redis)',
      defaultText: 'redis',
    },
    redis: { type: 'string', env: 'REDIS_URL', doc: 'Redis URL', defaultText: 'redis://127.0.0.1:6379' },
    prefix: {
      type: 'string',
      env: 'SCHEDULER_PREFIX',
      doc: 'Redis key prefix (registry and schedule keys)',
      defaultText: 'sy',
    },
    token: {
      type: 'string',
      env: 'SCHEDULER_TOKEN',
      doc: 'bearer token for API mutations (prefer --token-file)',
    },
    'token-file': { type: 'string', env: 'SCHEDULER_TOKEN_FILE', doc: 'file holding the bearer token' },
    region: {
      type: 'string',
      env: 'SCHEDULER_REGION',
      doc: 'default region of conferences created without one',
      defaultText: 'default',
    },
    fallbacks: {
      type: 'string',
      env: 'SCHEDULER_FALLBACKS',
      doc: 'fallback regions, nearest first: "eu=us,ap;us=eu"',
    },
    'fallback-any-region': {
      type: 'boolean',
      env: 'SCHEDULER_FALLBACK_ANY',
      doc: 'after the fallbacks, any region may take a conference',
      defaultText: 'true',
    },
    'round-interval-ms': {
      type: 'string',
      env: 'SCHEDULER_ROUND_MS',
      doc: 'round interval',
      defaultText: String(D.roundIntervalMs),
    },
    'window-ms': {
      type: 'string',
      env: 'SCHEDULER_WINDOW_MS',
      doc: 'scheduling window (conferences starting within it are placed)',
      defaultText: String(D.windowMs),
    },
    'claim-lease-ms': {
      type: 'string',
      env: 'SCHEDULER_CLAIM_LEASE_MS',
      doc: 'claim lease',
      defaultText: String(D.claimLeaseMs),
    },
    'lease-ttl-ms': {
      type: 'string',
      env: 'SCHEDULER_LEASE_TTL_MS',
      doc: "the scheduler's registry lease TTL",
      defaultText: String(D.leaseTtlMs),
    },
    'probe-interval-ms': {
      type: 'string',
      env: 'SCHEDULER_PROBE_MS',
      doc: 'keep-alive probe interval',
      defaultText: String(D.probeIntervalMs),
    },
    misses: {
      type: 'string',
      env: 'SCHEDULER_MISSES',
      doc: 'failed probes in a row before a server is down',
      defaultText: String(D.misses),
    },
    'probe-timeout-ms': {
      type: 'string',
      env: 'SCHEDULER_PROBE_TIMEOUT_MS',
      doc: 'one probe timeout',
      defaultText: String(D.probeTimeoutMs),
    },
    'place-batch': {
      type: 'string',
      env: 'SCHEDULER_PLACE_BATCH',
      doc: 'conferences per atomic placement script',
      defaultText: String(D.placeBatch),
    },
    'assignment-service': {
      type: 'string',
      env: 'SCHEDULER_ASSIGNMENT_SERVICE',
      doc: "registry service for assignments ('' = none)",
      defaultText: D.assignmentService,
    },
  },
  examples: [
    'global-scheduler --id sched-1 --port 8080 --redis redis://127.0.0.1:6379 --token-file /run/secrets/scheduler-token',
    'global-scheduler --store memory --token dev-token-123 --port 0',
  ],
};

/** Validates the parsed flags once; names the bad field. The token comes from --token or --token-file. */
export function loadConfig(values: Record<string, unknown>): Readonly<SchedulerConfig> {
  const base = parseConfig(ConfigSchema, values);
  let token = base.token;
  if (!token && base.tokenFile) {
    try {
      token = fs.readFileSync(base.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new ConfigError('tokenFile', `cannot read: ${(err as Error).message}`);
    }
  }
  if (!token || token.length < 8)
    throw new ConfigError(
      'token',
      'a bearer token of at least 8 characters is required (--token or --token-file)',
    );
  const fallbackMap: Record<string, string[]> = {};
  for (const part of base.fallbacks
    .split(';')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([a-z0-9-]+)=([a-z0-9-]+(,[a-z0-9-]+)*)$/.exec(part);
    if (!m) throw new ConfigError('fallbacks', `expected "region=r1,r2;…", got ${JSON.stringify(part)}`);
    fallbackMap[m[1]!] = m[2]!.split(',');
  }
  return Object.freeze({ ...base, token, fallbackMap: Object.freeze(fallbackMap) });
}
