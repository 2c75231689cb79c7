/** The error table of the pop-router: stable codes, each documented in the README (a test checks it). */
import { SwitchyardError } from '@switchyard/core';

export const PopRouterErrors = {
  POP_ERR_CONFIG: 'a setting is missing or invalid beyond its schema (keyring file, token); `field` names it',
  POP_ERR_KEYRING: 'the keyring file cannot be read or is not a valid keyring',
  POP_ERR_BIND: 'the tunnel socket or the control API cannot bind its address',
  POP_ERR_GOSSIP: 'the gossip member failed to start (its GSP_ERR_… code is in `details.cause`)',
  POP_ERR_STALE_CLAIM: 'a claim through the API carries an epoch lower than the one known for the session',
  POP_ERR_NOT_OWNER: 'DELETE of a session this host does not own',
  POP_ERR_NOT_FOUND: 'the session is unknown or closed',
  POP_ERR_UNAUTHORIZED: 'a mutation without the right bearer token',
  POP_ERR_BAD_REQUEST: 'a request body or parameter does not validate',
  POP_ERR_VXLAN:
    'vxlan mode: vx0, its MAC, the inner address or rp_filter 0 is missing (named), or --vxlan-setup failed / is not root',
  POP_ERR_KERNEL_FORWARD:
    '--kernel-forward / --kernel-decap: the BPF object is missing (clang absent at build), not root, or tc/bpftool failed (named)',
  POP_ERR_STATE: 'a lifecycle method was called in the wrong state',
} as const satisfies Record<string, string>;

export type PopRouterErrorCode = keyof typeof PopRouterErrors;

export class PopRouterError extends SwitchyardError<PopRouterErrorCode> {}
