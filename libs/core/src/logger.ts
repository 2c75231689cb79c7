/**
 * Logging: pino, JSON lines on stdout, secrets redacted by key name. {@link RateLimitedLog} bounds how often bad
 * input is logged, so a flood of garbage cannot flood the log.
 */
import { pino, type Logger, type LoggerOptions } from 'pino';
import type { Clock } from './clock.js';

export type { Logger } from 'pino';

const REDACT = [
  'token',
  'secret',
  'password',
  'key',
  '*.token',
  '*.secret',
  '*.password',
  '*.key',
  'headers.authorization',
];

export function createLogger(name: string, options: LoggerOptions = {}): Logger {
  return pino({
    name,
    level: process.env['LOG_LEVEL'] ?? 'info',
    redact: { paths: REDACT, censor: '[redacted]' },
    ...options,
  });
}

/** A logger that writes nothing: the default collaborator in tests and libs. */
export const silentLogger: Logger = pino({ level: 'silent' });

/** Lets at most `perInterval` messages per `intervalMs` through; counts the rest and reports them with the next. */
export class RateLimitedLog {
  private windowStart = -Infinity;
  private count = 0;
  private suppressed = 0;

  constructor(
    private readonly logger: Logger,
    private readonly clock: Clock,
    private readonly perInterval = 10,
    private readonly intervalMs = 1000,
  ) {}

  warn(obj: Record<string, unknown>, msg: string): void {
    const now = this.clock.now();
    if (now - this.windowStart >= this.intervalMs) {
      this.windowStart = now;
      this.count = 0;
    }
    if (this.count >= this.perInterval) {
      this.suppressed++;
      return;
    }
    this.count++;
    const suppressed = this.suppressed;
    this.suppressed = 0;
    this.logger.warn(suppressed ? { ...obj, suppressed } : obj, msg);
  }
}
