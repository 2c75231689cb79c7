/** The registry's error table: stable codes, each documented in the README (checked by a test). */
import { SwitchyardError } from '@switchyard/core';

export const RegistryErrors = {
  REG_ERR_INVALID_RECORD:
    'a record or patch is missing a field or has a field of the wrong type or range; `field` names it',
  REG_ERR_INVALID_TTL: 'a TTL is not a finite number of milliseconds > 0 (or above the configured maximum)',
  REG_ERR_META_TOO_LARGE: 'a record`s meta map exceeds the configured bound (entries or encoded bytes)',
  REG_ERR_NOT_FOUND: 'update/renew of a record that does not exist or has expired (the caller re-puts it)',
  REG_ERR_CONFLICT: 'compare-and-set failed: the stored revision differs from `expectRevision`',
  REG_ERR_BACKEND:
    'the backend (Redis) failed or answered something unexpected; nothing was changed by this call',
  REG_ERR_UNAVAILABLE:
    'the backend (Redis) cannot be reached now (connection closed or refused, failover in progress); retry later',
  REG_ERR_STOPPED: 'the store or channel is stopped',
  REG_ERR_BAD_FRAME:
    'push channel: a frame is oversized or malformed; the connection is closed, nothing else is affected',
  REG_ERR_BAD_MESSAGE: 'push channel: a frame does not decode to a valid message; the connection is closed',
} as const;
export type RegistryErrorCode = keyof typeof RegistryErrors;

export class RegistryError extends SwitchyardError<RegistryErrorCode> {}

/** Counts errors by code, so bad input is visible in metrics even when its log lines are rate-limited. */
export class ErrorCounter {
  private readonly counts = new Map<RegistryErrorCode, number>();

  count(code: RegistryErrorCode): void {
    this.counts.set(code, (this.counts.get(code) ?? 0) + 1);
  }

  /** Counts so far by code (a copy). */
  snapshot(): Partial<Record<RegistryErrorCode, number>> {
    return Object.fromEntries(this.counts) as Partial<Record<RegistryErrorCode, number>>;
  }

  /** Counts `err` if it is a {@link RegistryError}, then rethrows it. */
  rethrow(err: unknown): never {
    if (err instanceof RegistryError) this.count(err.code);
    throw err;
  }
}
