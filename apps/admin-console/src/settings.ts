/** The console's settings, declared once (flags, env, `--help`, defaults and validation derive from this). */
import { Type, type Static } from '@sinclair/typebox';
import { defineSettings, setting } from '@switchyard/core';

const Url = Type.String({ pattern: '^https?://[^\\s]+$' });
const Urls = Type.Array(Url, { maxItems: 1000 });
const File = Type.String({ maxLength: 4096 });

export const ConsoleSettings = defineSettings({
  name: 'admin-console',
  summary: 'a live web console of every Switchyard tier, with operator actions behind login',
  schema: Type.Object({
    host: setting(Type.String({ minLength: 1 }), '127.0.0.1', 'listen address', 'CONSOLE_HOST'),
    port: setting(
      Type.Integer({ minimum: 0, maximum: 65535 }),
      8090,
      'listen port (0 = any free port)',
      'CONSOLE_PORT',
    ),
    schedulerUrl: setting(Urls, [], 'a scheduler API (repeatable)', 'CONSOLE_SCHEDULER_URLS'),
    dispatcherUrl: setting(Urls, [], 'a host dispatcher control API (repeatable)', 'CONSOLE_DISPATCHER_URLS'),
    popRouterUrl: setting(Urls, [], 'a pop-router control API (repeatable)', 'CONSOLE_POP_ROUTER_URLS'),
    balancerUrl: setting(Urls, [], 'a container balancer API (repeatable)', 'CONSOLE_BALANCER_URLS'),
    redisUrl: setting(
      Type.String({ pattern: '^(rediss?://.*)?$' }),
      '',
      "the registry's Redis (its feed: servers, assignments, schedulers); '' = none",
      'REDIS_URL',
    ),
    redisPrefix: setting(
      Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' }),
      'sy',
      'registry key prefix',
      'CONSOLE_REDIS_PREFIX',
    ),
    serverService: setting(
      Type.String({ minLength: 1 }),
      'conference-server',
      'registry service of conference servers',
      'CONSOLE_SERVER_SERVICE',
    ),
    assignmentService: setting(
      Type.String({ minLength: 1 }),
      'conference',
      'registry service of assignments',
      'CONSOLE_ASSIGNMENT_SERVICE',
    ),
    schedulerService: setting(
      Type.String({ minLength: 1 }),
      'scheduler',
      'registry service of schedulers',
      'CONSOLE_SCHEDULER_SERVICE',
    ),
    schedulerTokenFile: setting(
      File,
      '',
      "file holding the schedulers' bearer token",
      'SCHEDULER_TOKEN_FILE',
    ),
    schedulerToken: setting(
      Type.String(),
      '',
      'schedulers’ bearer token (prefer the file)',
      'SCHEDULER_TOKEN',
      { secret: true },
    ),
    dispatcherTokenFile: setting(
      File,
      '',
      "file holding the dispatchers' control token",
      'DISPATCHER_TOKEN_FILE',
    ),
    dispatcherToken: setting(Type.String(), '', 'dispatchers’ control token', 'DISPATCHER_TOKEN', {
      secret: true,
    }),
    popRouterTokenFile: setting(File, '', "file holding the pop-routers' token", 'POP_ROUTER_TOKEN_FILE'),
    popRouterToken: setting(Type.String(), '', 'pop-routers’ token', 'POP_ROUTER_TOKEN', { secret: true }),
    balancerTokenFile: setting(File, '', "file holding the balancers' token", 'BALANCER_TOKEN_FILE'),
    balancerToken: setting(Type.String(), '', 'balancers’ token', 'BALANCER_TOKEN', { secret: true }),
    passwordFile: setting(
      File,
      '',
      'file holding the operator password (or its scrypt hash "scrypt$N$salt$hash")',
      'CONSOLE_PASSWORD_FILE',
    ),
    password: setting(Type.String(), '', 'the operator password (prefer the file)', 'CONSOLE_PASSWORD', {
      secret: true,
    }),
    pollMs: setting(
      Type.Integer({ minimum: 50, maximum: 60_000 }),
      250,
      "interval between polls of each tier's control API",
      'CONSOLE_POLL_MS',
    ),
    pollTimeoutMs: setting(
      Type.Integer({ minimum: 10, maximum: 60_000 }),
      1000,
      'one poll of a tier times out after this',
      'CONSOLE_POLL_TIMEOUT_MS',
    ),
    actionTimeoutMs: setting(
      Type.Integer({ minimum: 100, maximum: 600_000 }),
      30_000,
      'a forwarded operator action times out after this (a worker restart waits for its replacement)',
      'CONSOLE_ACTION_TIMEOUT_MS',
    ),
    pushMs: setting(
      Type.Integer({ minimum: 10, maximum: 10_000 }),
      100,
      'changes are pushed to pages at most this often (a change after a quiet spell at once)',
      'CONSOLE_PUSH_MS',
    ),
    rateMs: setting(
      Type.Integer({ minimum: 100, maximum: 600_000 }),
      1000,
      "interval between reads of each tier process's /metrics (the traffic rates on the topology's links)",
      'CONSOLE_RATE_MS',
    ),
    sampleMs: setting(
      Type.Integer({ minimum: 100, maximum: 600_000 }),
      1000,
      'load-over-time sampling interval',
      'CONSOLE_SAMPLE_MS',
    ),
    samples: setting(
      Type.Integer({ minimum: 2, maximum: 10_000 }),
      300,
      'load samples kept per server',
      'CONSOLE_SAMPLES',
    ),
    sessionTtlMs: setting(
      Type.Integer({ minimum: 1000 }),
      8 * 3_600_000,
      'an operator login lasts this long',
      'CONSOLE_SESSION_TTL_MS',
    ),
    loginAttempts: setting(
      Type.Integer({ minimum: 1, maximum: 1000 }),
      5,
      'failed logins allowed per address per window',
      'CONSOLE_LOGIN_ATTEMPTS',
    ),
    loginWindowMs: setting(
      Type.Integer({ minimum: 1000 }),
      60_000,
      'the login rate-limit window',
      'CONSOLE_LOGIN_WINDOW_MS',
    ),
    auditSize: setting(
      Type.Integer({ minimum: 1, maximum: 100_000 }),
      1000,
      'audit entries kept in memory and shown (all are logged)',
      'CONSOLE_AUDIT_SIZE',
    ),
    webRoot: setting(
      Type.String(),
      '',
      "directory of the built page ('' = dist-web next to the package)",
      'CONSOLE_WEB_ROOT',
    ),
  }),
  examples: [
    'admin-console --port 8090 --redis-url redis://127.0.0.1:6379 --scheduler-url http://127.0.0.1:8080 \\\n' +
      '  --dispatcher-url http://127.0.0.1:9090 --scheduler-token-file /run/secrets/scheduler-token \\\n' +
      '  --dispatcher-token-file /run/secrets/dispatcher-token --password-file /run/secrets/console-password',
  ],
});

export type ConsoleConfig = Static<typeof ConsoleSettings.schema>;
