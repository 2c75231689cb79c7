/**
 * The scheduler's error table: stable codes with their HTTP status and meaning, each documented in the README (a
 * test checks). Errors of dependencies are translated into these where they enter, by code, through
 * {@link fromRegistryCode} (the registry) and `translateRedisError` in store/redis-errors.ts (ioredis).
 */
import { SwitchyardError } from '@switchyard/core';

export const SchedulerErrorTable = {
  SCH_ERR_BAD_REQUEST: { status: 400, message: 'a request field is missing or invalid; `field` names it' },
  SCH_ERR_UNAUTHORIZED: { status: 401, message: 'a mutation without a valid bearer token' },
  SCH_ERR_NOT_FOUND: { status: 404, message: 'no conference, server or route with that id or path' },
  SCH_ERR_DUPLICATE: { status: 409, message: 'a conference with that id already exists' },
  SCH_ERR_NOT_PLACED: {
    status: 409,
    message: 'the conference is not placed now (pending, claimed or unplaceable)',
  },
  SCH_ERR_NO_CAPACITY: {
    status: 409,
    message:
      'no server can take the conference: the target is unknown, not serving, full, or its current server',
  },
  SCH_ERR_TOO_LARGE: { status: 413, message: 'the request body is larger than the API accepts' },
  SCH_ERR_URI_TOO_LONG: { status: 414, message: 'the URL (or an id in it) is longer than the API accepts' },
  SCH_ERR_UNSUPPORTED_MEDIA: { status: 415, message: 'a body that is not `application/json`' },
  SCH_ERR_HEADERS_TOO_LARGE: { status: 431, message: 'the request headers are larger than the API accepts' },
  SCH_ERR_STORE_UNAVAILABLE: {
    status: 503,
    message: 'Redis (or the registry) cannot be reached; retry after the `retry-after` seconds',
  },
  SCH_ERR_INTERNAL: { status: 500, message: 'an unexpected error; it is logged' },
} as const satisfies Record<string, { status: number; message: string }>;
export type SchedulerErrorCode = keyof typeof SchedulerErrorTable;

/** Code → meaning, for the README check and for docs. */
export const SchedulerErrors: Readonly<Record<SchedulerErrorCode, string>> = Object.freeze(
  Object.fromEntries(Object.entries(SchedulerErrorTable).map(([k, v]) => [k, v.message])) as Record<
    SchedulerErrorCode,
    string
  >,
);

export class SchedulerError extends SwitchyardError<SchedulerErrorCode> {
  get status(): number {
    return SchedulerErrorTable[this.code].status;
  }
}

/**
 * Registry error code → ours, where registry errors enter (API handlers, the round, keep-alive). A registry code
 * not in the map is a bug on our side (bad record we built): it stays SCH_ERR_INTERNAL.
 */
const REGISTRY_CODES: Readonly<Record<string, SchedulerErrorCode>> = {
  REG_ERR_UNAVAILABLE: 'SCH_ERR_STORE_UNAVAILABLE',
  REG_ERR_BACKEND: 'SCH_ERR_STORE_UNAVAILABLE',
  REG_ERR_STOPPED: 'SCH_ERR_STORE_UNAVAILABLE',
  REG_ERR_NOT_FOUND: 'SCH_ERR_NOT_FOUND',
};

/** Our code for an error the registry threw, or undefined when it is not a registry error. */
export function fromRegistryCode(err: unknown): SchedulerErrorCode | undefined {
  if (!(err instanceof SwitchyardError) || !err.code.startsWith('REG_ERR_')) return undefined;
  return REGISTRY_CODES[err.code] ?? 'SCH_ERR_INTERNAL';
}

/** Any error as one of ours: ours unchanged, the registry's by code, anything else SCH_ERR_INTERNAL. */
export function asSchedulerError(err: unknown): SchedulerError {
  if (err instanceof SchedulerError) return err;
  const code = fromRegistryCode(err) ?? 'SCH_ERR_INTERNAL';
  const message = err instanceof Error ? err.message : String(err);
  return new SchedulerError(code, message, { cause: err });
}
