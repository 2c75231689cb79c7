/** The mixer's error table: stable codes, each documented in the README (a test checks). */
import { SwitchyardError } from '@switchyard/core';

export const MixerErrors = {
  MIX_ERR_BAD_REQUEST: 'a request field is missing or invalid (HTTP 400)',
  MIX_ERR_FULL:
    'the mixer holds its maximum of conferences (HTTP 503; the balancer tries the next container)',
  MIX_ERR_NOT_FOUND: 'no conference allocated under that key (HTTP 404)',
  MIX_ERR_BIND: 'a UDP socket for a conference could not be bound (HTTP 503)',
} as const;
export type MixerErrorCode = keyof typeof MixerErrors;

export class MixerError extends SwitchyardError<MixerErrorCode> {}
