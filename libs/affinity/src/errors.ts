/** The error table of @switchyard/affinity: stable codes, each documented in the README (a test checks it). */
import { SwitchyardError } from '@switchyard/core';

export const AffinityErrors = {
  AFF_ERR_CONFIG: 'an init value of AffinityTable is invalid; `details.field` names it',
  AFF_ERR_ALREADY_BOUND: 'bind() of a key that is already bound to a different owner',
  AFF_ERR_NOT_BOUND: 'acquire() of a key that is not bound',
  AFF_ERR_TABLE_FULL:
    'bind() on a table at maxEntries where every binding is referenced (nothing can be evicted)',
  AFF_ERR_DUPLICATE: 'LeastLoadedQueue.add() of an id that is already queued',
  AFF_ERR_NOT_FOUND: 'LeastLoadedQueue.update() of an id that is not queued',
  AFF_ERR_BAD_LOAD: 'a load is NaN, infinite or negative',
  AFF_ERR_BAD_FACTOR: 'the bounded-load factor c is not a finite number >= 1',
} as const satisfies Record<string, string>;

export type AffinityErrorCode = keyof typeof AffinityErrors;

export class AffinityError extends SwitchyardError<AffinityErrorCode> {}
