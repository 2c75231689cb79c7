/**
 * The one seam to rendezvous (highest-random-weight) hashing: which scheduler probes a given conference server.
 * Delegates to `rendezvousOwner` of `@switchyard/affinity`.
 */
import { rendezvousOwner } from '@switchyard/affinity';

export function chooseOwner(key: string, candidates: readonly string[]): string | undefined {
  return rendezvousOwner(key, candidates);
}
