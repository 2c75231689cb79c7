/**
 * Where ioredis errors enter the scheduler: translated by kind and by Redis error code, never by message text.
 * ioredis rejects a command either with a `ReplyError` (Redis answered an error; its code is the reply's first
 * word, e.g. `NOSCRIPT`, `CLUSTERDOWN`) or with something else (the connection is closed, the offline queue is off,
 * retries are exhausted, a socket error with an errno `code`): the latter all mean Redis cannot be reached now.
 */
import { SchedulerError } from '../errors.js';

/** Reply codes that mean "not now" rather than "never": a failover, a loading replica, a cluster reshuffle. */
const TRANSIENT_REPLY_CODES: ReadonlySet<string> = new Set([
  'CLUSTERDOWN',
  'LOADING',
  'MASTERDOWN',
  'READONLY',
  'TRYAGAIN',
  'BUSY',
]);

/** The Redis error code of a reply error (`NOSCRIPT No matching script` → `NOSCRIPT`), else undefined. */
export function replyCode(err: unknown): string | undefined {
  if (!(err instanceof Error) || err.name !== 'ReplyError') return undefined;
  const sp = err.message.indexOf(' ');
  return sp < 0 ? err.message : err.message.slice(0, sp);
}

/** Our error for an ioredis failure; a reply error that is not transient is a bug (a script, a key type). */
export function translateRedisError(err: unknown): SchedulerError {
  if (err instanceof SchedulerError) return err;
  const message = `redis: ${err instanceof Error ? err.message : String(err)}`;
  const code = replyCode(err);
  if (code === undefined || TRANSIENT_REPLY_CODES.has(code))
    return new SchedulerError('SCH_ERR_STORE_UNAVAILABLE', message, { cause: err });
  return new SchedulerError('SCH_ERR_INTERNAL', message, { cause: err, details: { redisCode: code } });
}
