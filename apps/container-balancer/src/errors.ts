/** The container balancer's error table: stable codes, each documented in the README (a test checks). */
import { SwitchyardError } from '@switchyard/core';

export const BalancerErrors = {
  BAL_ERR_UNAUTHORIZED: 'a registration or a control-API change without the right token (HTTP 401)',
  BAL_ERR_BAD_REGISTRATION:
    'a hello or registration record is malformed or breaks a rule (capacity, mode, address); connection closed',
  BAL_ERR_FRAME_TOO_LARGE: 'a registration frame has length 0 or above --max-frame-bytes; connection closed',
  BAL_ERR_HELLO_TIMEOUT: 'a connection sent no complete hello and registration within --hello-timeout-ms',
  BAL_ERR_REGISTRATION_LIMIT:
    'too many registrations per second, too many containers, or too many unregistered connections (flood)',
  BAL_ERR_TLS:
    'a connection to the TLS registration port failed the handshake (plain TCP, or the container refused our certificate); closed',
  BAL_ERR_DUPLICATE_ID: 'a container with that id is registered on another live connection',
  BAL_ERR_NO_CONTAINER: 'no serving container for the service (HTTP 503 with Retry-After)',
  BAL_ERR_UPSTREAM:
    'the container failed (connect error, reset, 502/503) and the request was not or no longer retried (HTTP 502)',
  BAL_ERR_UPSTREAM_TIMEOUT: 'the container did not answer within --upstream-timeout-ms (HTTP 504)',
  BAL_ERR_NOT_FOUND: 'no container with that id (HTTP 404)',
  BAL_ERR_BAD_REQUEST: 'a request field is missing or invalid (HTTP 400)',
  BAL_ERR_INTERNAL:
    'the control API failed to answer a request the llhttp front passed it (HTTP 500; logged by fastify)',
} as const;
export type BalancerErrorCode = keyof typeof BalancerErrors;

export class BalancerError extends SwitchyardError<BalancerErrorCode> {}

/** HTTP status of each code that reaches an HTTP client. */
export const STATUS: Readonly<Record<BalancerErrorCode, number>> = Object.freeze({
  BAL_ERR_UNAUTHORIZED: 401,
  BAL_ERR_BAD_REGISTRATION: 400,
  BAL_ERR_FRAME_TOO_LARGE: 400,
  BAL_ERR_HELLO_TIMEOUT: 408,
  BAL_ERR_REGISTRATION_LIMIT: 429,
  BAL_ERR_TLS: 400,
  BAL_ERR_DUPLICATE_ID: 409,
  BAL_ERR_NO_CONTAINER: 503,
  BAL_ERR_UPSTREAM: 502,
  BAL_ERR_UPSTREAM_TIMEOUT: 504,
  BAL_ERR_NOT_FOUND: 404,
  BAL_ERR_BAD_REQUEST: 400,
  BAL_ERR_INTERNAL: 500,
});
