/** The console's error table: stable codes, each documented in the README (a test checks). */
import { SwitchyardError } from '@switchyard/core';

export const ConsoleErrors = {
  CON_ERR_BAD_REQUEST: 'a request field is missing or invalid (HTTP 400)',
  CON_ERR_UNAUTHORIZED: 'the request needs the operator role: log in first (HTTP 401)',
  CON_ERR_FORBIDDEN: 'the CSRF token or the Origin of a mutation does not match the session (HTTP 403)',
  CON_ERR_BAD_PASSWORD: 'the password is wrong (HTTP 401)',
  CON_ERR_RATE_LIMITED: 'too many login attempts from this address; retry after the given seconds (HTTP 429)',
  CON_ERR_NO_PASSWORD: 'no operator password is configured, so nobody can log in (HTTP 403)',
  CON_ERR_UNSUPPORTED: "the tier's API does not offer this action (HTTP 501)",
  CON_ERR_UNKNOWN_ENDPOINT: 'the action names a tier process the console is not configured with (HTTP 400)',
  CON_ERR_TIER_DOWN: 'the tier could not be reached (connection refused, timeout) (HTTP 502)',
  CON_ERR_TIER_REFUSED:
    'the tier answered the forwarded request with an error; its status and body are kept (HTTP 502)',
  CON_ERR_NO_TOKEN:
    "no token is configured for the tier's control API, so actions on it are refused (HTTP 503)",
} as const;
export type ConsoleErrorCode = keyof typeof ConsoleErrors;

export class ConsoleError extends SwitchyardError<ConsoleErrorCode> {}

/** HTTP status of each code. */
export const STATUS: Record<ConsoleErrorCode, number> = {
  CON_ERR_BAD_REQUEST: 400,
  CON_ERR_UNAUTHORIZED: 401,
  CON_ERR_FORBIDDEN: 403,
  CON_ERR_BAD_PASSWORD: 401,
  CON_ERR_RATE_LIMITED: 429,
  CON_ERR_NO_PASSWORD: 403,
  CON_ERR_UNSUPPORTED: 501,
  CON_ERR_UNKNOWN_ENDPOINT: 400,
  CON_ERR_TIER_DOWN: 502,
  CON_ERR_TIER_REFUSED: 502,
  CON_ERR_NO_TOKEN: 503,
};
