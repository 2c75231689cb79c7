/** The console's Prometheus metrics (its own registry, served on /metrics). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class ConsoleMetrics {
  readonly registry = new Registry();
  readonly sseClients = new Gauge({
    name: 'console_sse_clients',
    help: 'pages connected to the event stream',
    registers: [this.registry],
  });
  readonly pushes = new Counter({
    name: 'console_pushes_total',
    help: 'patches pushed to the pages (one per change batch)',
    registers: [this.registry],
  });
  readonly eventBytes = new Histogram({
    name: 'console_sse_event_bytes',
    help: 'size of each event sent to the pages (snapshot: once per page; patch: once per change batch)',
    labelNames: ['kind'] as const,
    buckets: [256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304],
    registers: [this.registry],
  });
  readonly pushDelay = new Histogram({
    name: 'console_push_delay_seconds',
    help: 'from the console noticing a change (source: feed = a registry feed event, any = a feed event or a poll answer) to the SSE write that carries it',
    labelNames: ['source'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly pollErrors = new Counter({
    name: 'console_poll_errors_total',
    help: "failed polls of a tier's control API",
    labelNames: ['tier'] as const,
    registers: [this.registry],
  });
  readonly actions = new Counter({
    name: 'console_actions_total',
    help: 'operator actions forwarded to the tiers, by action and result',
    labelNames: ['action', 'result'] as const,
    registers: [this.registry],
  });
  readonly logins = new Counter({
    name: 'console_logins_total',
    help: 'login attempts by result (ok, bad-password, rate-limited)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly badRequests = new Counter({
    name: 'console_bad_requests_total',
    help: 'requests refused as malformed, unauthorized or forbidden, by code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  constructor(defaults = false) {
    if (defaults) collectDefaultMetrics({ register: this.registry });
  }
}
