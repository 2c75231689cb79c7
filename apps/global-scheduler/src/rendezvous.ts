/**
 * The one seam to rendezvous (highest-random-weight) hashing: which scheduler probes a given conference server.
 * TEMPORARY body until `rendezvousOwner` from `@switchyard/affinity` is merged; then this delegates to it.
 */
import { createHash } from 'node:crypto';

export function chooseOwner(key: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1n;
  for (const c of candidates) {
    const w = createHash('sha1').update(`${c}\u0000${key}`).digest().readBigUInt64BE(0);
    if (w > bestWeight || (w === bestWeight && best !== undefined && c < best)) {
      best = c;
      bestWeight = w;
    }
  }
  return best;
}
