/**
 * Which server takes a conference, pure: among candidates not marked down with room for `units` more
 * (reservation + units <= capacity), the lowest tier first (own region before fallbacks), then the least loaded
 * (the larger of reservation and reported load, as a fraction of capacity), then the smaller id. The Redis store
 * runs the same rule inside its Lua script; this is the reference the compliance suite holds both to.
 */
import type { Candidate } from './schedule-store.js';

export function pickServer(
  candidates: readonly Candidate[],
  units: number,
  isDown: (id: string) => boolean,
  reservedOf: (id: string) => number,
): Candidate | undefined {
  let best: Candidate | undefined;
  let bestLoad = Infinity;
  for (const c of candidates) {
    if (c.capacity <= 0 || isDown(c.id)) continue;
    const reserved = reservedOf(c.id);
    if (reserved + units > c.capacity) continue;
    const load = Math.max(reserved, c.load) / c.capacity;
    if (
      !best ||
      c.tier < best.tier ||
      (c.tier === best.tier && (load < bestLoad || (load === bestLoad && c.id < best.id)))
    ) {
      best = c;
      bestLoad = load;
    }
  }
  return best;
}
