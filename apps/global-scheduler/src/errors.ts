/** The scheduler's error table: stable codes, each documented in the README (a test checks). */
import { SwitchyardError } from '@switchyard/core';

export const SchedulerErrors = {
  SCH_ERR_BAD_REQUEST: 'a request field is missing or invalid; `field` names it (HTTP 400)',
  SCH_ERR_NOT_FOUND: 'no conference or server with that id (HTTP 404)',
  SCH_ERR_UNAUTHORIZED: 'a mutation without a valid bearer token (HTTP 401)',
  SCH_ERR_DUPLICATE: 'a conference with that id already exists (HTTP 409)',
  SCH_ERR_STORE_UNAVAILABLE:
    'Redis (or the registry) cannot be reached; retry after the given seconds (HTTP 503)',
  SCH_ERR_INTERNAL: 'an unexpected error (HTTP 500); it is logged',
} as const;
export type SchedulerErrorCode = keyof typeof SchedulerErrors;

export class SchedulerError extends SwitchyardError<SchedulerErrorCode> {}
