/** The error table of @switchyard/pop-wire: stable codes, each documented in the README (a test checks it). */
import { SwitchyardError } from '@switchyard/core';

export const PopWireErrors = {
  PWR_ERR_ADDRESS:
    'an address given to a template builder is not a dotted IPv4 address or a MAC is malformed',
  PWR_ERR_TEMPLATE: 'a template field is out of range (VNI, port, host id length)',
  PWR_ERR_KEY: 'a tunnel key is missing, shorter than 16 bytes, or its id is not 0..255',
} as const satisfies Record<string, string>;

export type PopWireErrorCode = keyof typeof PopWireErrors;

export class PopWireError extends SwitchyardError<PopWireErrorCode> {}
