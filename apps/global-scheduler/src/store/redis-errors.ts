/**
 * Where ioredis errors enter the scheduler's store: translated by kind and by Redis error code (the registry's
 * `redisReplyCode` / `isRedisUnavailable`, one rule for both), never by message text. ioredis rejects a command
 * either with a `ReplyError` (Redis answered an error; its code is the reply's first word, e.g. `NOSCRIPT`,
 * `CLUSTERDOWN`) or with something else (connection closed, offline queue off, retries exhausted, a socket errno):
 * the latter, and the "retry later" reply codes, mean Redis cannot be reached now.
 */
import { isRedisUnavailable, redisReplyCode } from '@switchyard/registry';
import { SchedulerError } from '../errors.js';

export { redisReplyCode as replyCode };

/** Our error for an ioredis failure; a reply error that is not transient is a bug (a script, a key type). */
export function translateRedisError(err: unknown): SchedulerError {
  if (err instanceof SchedulerError) return err;
  const message = `redis: ${err instanceof Error ? err.message : String(err)}`;
  if (isRedisUnavailable(err))
    return new SchedulerError('SCH_ERR_STORE_UNAVAILABLE', message, { cause: err });
  return new SchedulerError('SCH_ERR_INTERNAL', message, {
    cause: err,
    details: { redisCode: redisReplyCode(err) },
  });
}
