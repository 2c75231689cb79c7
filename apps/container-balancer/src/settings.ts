/** The balancer's settings, declared once: flags, env, --help, defaults and validation all derive from this. */
import fs from 'node:fs';
import tls from 'node:tls';
import { Type, type Static } from '@sinclair/typebox';
import { ConfigError, defineSettings, setting } from '@switchyard/core';
import { BALANCER_DEFAULTS as D } from './defaults.js';

const int = (min: number, max = 2 ** 31 - 1) => Type.Integer({ minimum: min, maximum: max });

export const BalancerSettings = defineSettings({
  name: 'container-balancer',
  summary:
    'tier 4: containers dial in and register; least-loaded queues per service; routing and allocations',
  schema: Type.Object({
    host: setting(
      Type.String({ minLength: 1 }),
      '127.0.0.1',
      'HTTP listen address (API, allocations, /svc proxy)',
      'BALANCER_HOST',
    ),
    port: setting(int(0, 65535), 8700, 'HTTP listen port (0 = any free port)', 'BALANCER_PORT'),
    registerHost: setting(
      Type.String({ minLength: 1 }),
      '127.0.0.1',
      'registration listen address (containers dial in here)',
      'BALANCER_REGISTER_HOST',
    ),
    registerPort: setting(
      int(0, 65535),
      8701,
      'registration listen port (0 = any free port)',
      'BALANCER_REGISTER_PORT',
    ),
    tlsCertFile: setting(
      Type.String(),
      '',
      'PEM certificate chain: serve TLS on the registration port (with --tls-key-file); empty = plain TCP',
      'BALANCER_TLS_CERT_FILE',
    ),
    tlsKeyFile: setting(Type.String(), '', 'PEM private key of --tls-cert-file', 'BALANCER_TLS_KEY_FILE'),
    registrationToken: setting(
      Type.String(),
      '',
      'token containers present to register (prefer the file)',
      'BALANCER_REGISTRATION_TOKEN',
      { secret: true },
    ),
    registrationTokenFile: setting(
      Type.String(),
      '',
      'file holding the registration token',
      'BALANCER_REGISTRATION_TOKEN_FILE',
    ),
    apiToken: setting(
      Type.String(),
      '',
      'bearer token for changes: drain, undrain, evict, allocations (prefer the file)',
      'BALANCER_API_TOKEN',
      { secret: true },
    ),
    apiTokenFile: setting(Type.String(), '', 'file holding the API bearer token', 'BALANCER_API_TOKEN_FILE'),
    deadlineMs: setting(
      int(10),
      D.deadlineMs,
      'a container silent this long is dropped',
      'BALANCER_DEADLINE_MS',
    ),
    checkEveryMs: setting(int(5), D.checkEveryMs, 'how often silence is checked', 'BALANCER_CHECK_EVERY_MS'),
    helloTimeoutMs: setting(
      int(10),
      D.helloTimeoutMs,
      'a connection must register within this',
      'BALANCER_HELLO_TIMEOUT_MS',
    ),
    maxFrameBytes: setting(
      int(256, 1 << 24),
      D.maxFrameBytes,
      'largest registration frame',
      'BALANCER_MAX_FRAME_BYTES',
    ),
    maxContainers: setting(
      int(1),
      D.maxContainers,
      'containers at most (all services)',
      'BALANCER_MAX_CONTAINERS',
    ),
    maxPendingConnections: setting(
      int(1),
      D.maxPendingConnections,
      'connections not yet registered at most',
      'BALANCER_MAX_PENDING',
    ),
    registrationsPerSecond: setting(
      int(1),
      D.registrationsPerSecond,
      'accepted hellos per second (sustained)',
      'BALANCER_REGISTRATIONS_PER_S',
    ),
    registrationBurst: setting(
      int(1),
      D.registrationBurst,
      'accepted hellos in a burst',
      'BALANCER_REGISTRATION_BURST',
    ),
    retries: setting(
      int(0, 10),
      D.retries,
      'extra containers an idempotent request may be tried on',
      'BALANCER_RETRIES',
    ),
    upstreamTimeoutMs: setting(
      int(1),
      D.upstreamTimeoutMs,
      'response headers from a container within this, or 504',
      'BALANCER_UPSTREAM_TIMEOUT_MS',
    ),
    connectTimeoutMs: setting(
      int(1),
      D.connectTimeoutMs,
      'connect timeout to a direct container',
      'BALANCER_CONNECT_TIMEOUT_MS',
    ),
    upstreamPipelining: setting(
      int(1, 128),
      D.upstreamPipelining,
      'idempotent requests pipelined on one connection to a direct container (1 = no pipelining; others never are)',
      'BALANCER_UPSTREAM_PIPELINING',
    ),
    proxyFront: setting(
      Type.Union([Type.Literal('llhttp'), Type.Literal('node')]),
      D.proxyFront,
      "HTTP front: llhttp (node:net + Node's internal llhttp binding, Node 20's API) or node (node:http)",
      'BALANCER_PROXY_FRONT',
    ),
    poolConnections: setting(
      int(1, 1024),
      64,
      'keep-alive connections per direct container',
      'BALANCER_POOL_CONNECTIONS',
    ),
    retryAfterS: setting(
      int(0, 3600),
      D.retryAfterS,
      'Retry-After of a 503 when no container serves',
      'BALANCER_RETRY_AFTER_S',
    ),
    maxStickyKeys: setting(
      int(1),
      D.maxStickyKeys,
      'allocation keys remembered (oldest forgotten first)',
      'BALANCER_MAX_STICKY_KEYS',
    ),
    pickLogSize: setting(
      int(0, 1_000_000),
      D.pickLogSize,
      'picks recorded with every candidate score (GET /v1/picks); 0 = off',
      'BALANCER_PICK_LOG_SIZE',
    ),
    headersTimeoutMs: setting(
      int(100, 600_000),
      D.headersTimeoutMs,
      'llhttp front: a request head must be complete this long after its first byte, else 408 and the connection closes (slow-header clients)',
      'BALANCER_HEADERS_TIMEOUT_MS',
    ),
    requestTimeoutMs: setting(
      int(0, 3_600_000),
      D.requestTimeoutMs,
      'llhttp front: a whole request (head and body) must be in this long after its first byte, else 408 (or the connection cut) and closed; 0 = no limit (slow-body clients)',
      'BALANCER_REQUEST_TIMEOUT_MS',
    ),
    maxRetryBodyBytes: setting(
      int(0),
      D.maxRetryBodyBytes,
      'body of an idempotent request buffered at most (to re-send)',
      'BALANCER_MAX_RETRY_BODY_BYTES',
    ),
  }),
  examples: [
    'container-balancer --port 8700 --register-port 8701 --registration-token-file /run/secrets/reg --api-token-file /run/secrets/api',
  ],
});

export type BalancerSettingsValues = Static<typeof BalancerSettings.schema>;

/** Settings with the tokens read from their files; the registration token is required. */
export interface BalancerConfig extends BalancerSettingsValues {
  registrationTokenValue: string;
  apiTokenValue: string | undefined;
  /** The registration port's certificate and key, read once; undefined = plain TCP. */
  tlsValue: { cert: string; key: string } | undefined;
}

function readPem(field: string, file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(field, `cannot read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** Both files or neither; the pair is checked by building a TLS context now, not at the first connection. */
function resolveTls(values: Readonly<BalancerSettingsValues>): BalancerConfig['tlsValue'] {
  if (!values.tlsCertFile && !values.tlsKeyFile) return undefined;
  if (!values.tlsCertFile) throw new ConfigError('tlsCertFile', 'is required with --tls-key-file');
  if (!values.tlsKeyFile) throw new ConfigError('tlsKeyFile', 'is required with --tls-cert-file');
  const cert = readPem('tlsCertFile', values.tlsCertFile);
  const key = readPem('tlsKeyFile', values.tlsKeyFile);
  try {
    tls.createSecureContext({ cert, key });
  } catch (err) {
    throw new ConfigError(
      'tlsKeyFile',
      `the certificate and key do not form a usable pair (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  return { cert, key };
}

function readToken(field: string, value: string, file: string): string | undefined {
  if (value) return value;
  if (!file) return undefined;
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(field, `cannot read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** Resolves the tokens (flag or file) once. Throws ConfigError naming the field. */
export function resolveConfig(values: Readonly<BalancerSettingsValues>): Readonly<BalancerConfig> {
  const reg = readToken('registrationTokenFile', values.registrationToken, values.registrationTokenFile);
  if (!reg || reg.length < 8)
    throw new ConfigError(
      'registrationToken',
      'a registration token of at least 8 characters is required (--registration-token-file or env)',
    );
  if (values.requestTimeoutMs !== 0 && values.requestTimeoutMs < values.headersTimeoutMs)
    throw new ConfigError(
      'requestTimeoutMs',
      `must be 0 (no limit) or at least --headers-timeout-ms (${values.headersTimeoutMs}): a request's head is part of it`,
    );
  const api = readToken('apiTokenFile', values.apiToken, values.apiTokenFile);
  if (api !== undefined && api.length < 8)
    throw new ConfigError('apiToken', 'the API token must have at least 8 characters');
  return Object.freeze({
    ...values,
    registrationTokenValue: reg,
    apiTokenValue: api,
    tlsValue: resolveTls(values),
  });
}
