/**
 * Dispatcher configuration: one schema, defaults in {@link DISPATCHER_DEFAULTS} (one comment per value), a test
 * profile with short timers, validated once by `parseConfig` and frozen.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ConfigError, parseConfig } from '@switchyard/core';
import { DispatcherError } from './errors.js';

export const DISPATCHER_DEFAULTS = {
  /** SIP service addresses, UDP and TCP on each. */
  listen: ['127.0.0.1:5060'],
  /** Control API (fastify) address; a separate port, never the SIP one. */
  controlHost: '127.0.0.1',
  /** Control API port (0: any free port, printed at start). */
  controlPort: 8060,
  /** Bearer token for mutating control calls (drain/restart); empty: mutations refused. */
  controlToken: '',
  /** Workers started at once and kept at least. */
  minWorkers: 2,
  /** Hot spares: started and connected, promoted at once when a worker crashes or more are needed. */
  spareWorkers: 1,
  /** Never more workers than this (spares not counted). */
  maxWorkers: 4,
  /** A worker is "above threshold" with this many Call-ID bindings; when all are, another is started. */
  loadThreshold: 2000,
  /** Largest SIP message accepted (bytes), UDP or TCP; larger ones get 513 when SIP allows. */
  maxMessageBytes: 16384,
  /** A TCP peer must finish its first message within this (ms), else it is closed. */
  tcpFirstMessageMs: 5000,
  /** A handed-off TCP connection idle this long (ms) is closed by its worker. */
  tcpIdleMs: 300_000,
  /** How long a binding with no dialog lives unused (ms): 64*T1, the transaction timeout. */
  bindingIdleMs: 32_000,
  /** SIGTERM / per-worker drain: dialogs may finish for this long (ms), then the worker is stopped. */
  drainTimeoutMs: 30_000,
  /** A worker must report ready within this (ms). */
  workerStartTimeoutMs: 10_000,
  /** RFC 3261 T1 in the workers (ms). */
  t1Ms: 500,
  /** Workers wait this long (ms) between 180 and 200; 0 answers at once. */
  answerDelayMs: 0,
  /** Workers send 180 Ringing before the 200. */
  ringing: true,
  /** Directory for the seqpacket socket; empty: a fresh one under the OS temp dir. */
  runtimeDir: '',
} as const;

/** Short timers for tests. */
export const DISPATCHER_TEST_PROFILE = {
  ...DISPATCHER_DEFAULTS,
  controlPort: 0,
  bindingIdleMs: 2000,
  drainTimeoutMs: 3000,
  tcpFirstMessageMs: 1000,
  workerStartTimeoutMs: 15_000,
} as const;

const d = DISPATCHER_DEFAULTS;
export const DispatcherConfigSchema = Type.Object({
  listen: Type.Array(Type.String(), { minItems: 1, maxItems: 16, default: [...d.listen] }),
  controlHost: Type.String({ default: d.controlHost }),
  controlPort: Type.Integer({ minimum: 0, maximum: 65535, default: d.controlPort }),
  controlToken: Type.String({ default: d.controlToken }),
  minWorkers: Type.Integer({ minimum: 1, maximum: 64, default: d.minWorkers }),
  spareWorkers: Type.Integer({ minimum: 0, maximum: 8, default: d.spareWorkers }),
  maxWorkers: Type.Integer({ minimum: 1, maximum: 64, default: d.maxWorkers }),
  loadThreshold: Type.Integer({ minimum: 1, default: d.loadThreshold }),
  maxMessageBytes: Type.Integer({ minimum: 1024, maximum: 65535, default: d.maxMessageBytes }),
  tcpFirstMessageMs: Type.Integer({ minimum: 10, default: d.tcpFirstMessageMs }),
  tcpIdleMs: Type.Integer({ minimum: 1000, default: d.tcpIdleMs }),
  bindingIdleMs: Type.Integer({ minimum: 100, default: d.bindingIdleMs }),
  drainTimeoutMs: Type.Integer({ minimum: 0, default: d.drainTimeoutMs }),
  workerStartTimeoutMs: Type.Integer({ minimum: 100, default: d.workerStartTimeoutMs }),
  t1Ms: Type.Integer({ minimum: 10, maximum: 10_000, default: d.t1Ms }),
  answerDelayMs: Type.Integer({ minimum: 0, maximum: 60_000, default: d.answerDelayMs }),
  ringing: Type.Boolean({ default: d.ringing }),
  runtimeDir: Type.String({ default: d.runtimeDir }),
});
export type DispatcherConfig = Static<typeof DispatcherConfigSchema>;

export interface ListenAddress {
  host: string;
  port: number;
}

/** Validates once (typed error naming the field), checks cross-field rules, freezes. */
export function parseDispatcherConfig(input: unknown): Readonly<DispatcherConfig> {
  const cfg = parseConfig(DispatcherConfigSchema, input);
  if (cfg.maxWorkers < cfg.minWorkers) {
    throw new ConfigError('maxWorkers', `must be >= minWorkers (${cfg.minWorkers})`);
  }
  for (const l of cfg.listen) parseListen(l);
  return cfg;
}

/** `127.0.0.1:5060`, `[::1]:5060` → host and port; throws DSP_ERR_BAD_LISTEN. */
export function parseListen(s: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(s.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new DispatcherError(
      'DSP_ERR_BAD_LISTEN',
      `invalid listen address ${JSON.stringify(s)} (want host:port)`,
    );
  }
  return { host: (m[1] ?? m[2])!, port };
}
