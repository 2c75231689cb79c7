/**
 * When a request may be tried again on another container: pure rules, table-tested.
 * Idempotent (GET, HEAD, PUT, DELETE, OPTIONS, or any request with an Idempotency-Key) and failed on connect,
 * by a reset before the response, or answered 502/503 → the next container, at most `retries` times.
 * Non-idempotent requests are never retried (the container may have acted on them). A timeout is never retried:
 * the container may still be working, and the client's own deadline is the better judge.
 */
import type { FailureKind } from '../upstream/upstream.js';

export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

export function isIdempotent(method: string, headers: Record<string, unknown>): boolean {
  return IDEMPOTENT_METHODS.has(method.toUpperCase()) || headers['idempotency-key'] !== undefined;
}

export type Outcome = { failure: FailureKind } | { status: number };

export type RetryDecision = 'retry' | 'answer' | 'fail';

/** `attempt` counts from 0 (the first try). */
export function decide(
  outcome: Outcome,
  idempotent: boolean,
  attempt: number,
  retries: number,
): RetryDecision {
  const retryable =
    'failure' in outcome ? outcome.failure !== 'timeout' : outcome.status === 502 || outcome.status === 503;
  if (!retryable) return 'failure' in outcome ? 'fail' : 'answer';
  if (idempotent && attempt < retries) return 'retry';
  return 'failure' in outcome ? 'fail' : 'answer';
}
