/** The container link's error table: stable codes, each documented in the README (a test checks). */
import { SwitchyardError } from '@switchyard/core';

export const LinkErrors = {
  LNK_ERR_BAD_HELLO: 'a hello frame does not decode to a valid hello (version, kind, token, role, id)',
  LNK_ERR_FRAME_SIZE: 'an opening frame has length 0 or above the limit; the connection is closed',
  LNK_ERR_BAD_REPLY: "the balancer's reply to a hello is not a valid welcome or reject frame",
  LNK_ERR_TLS:
    "TLS with the balancer failed (its certificate is not signed by the CA given, or names another host); `details.code` carries Node's code",
  LNK_ERR_REJECTED: 'the balancer refused the connection; `details.code` carries its BAL_ERR_… code',
} as const;
export type LinkErrorCode = keyof typeof LinkErrors;

export class LinkError extends SwitchyardError<LinkErrorCode> {}
