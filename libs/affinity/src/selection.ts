/**
 * Selection, deterministic: power-of-two choices under a seeded {@link Rng}, rendezvous (highest random weight)
 * hashing, and rendezvous with a load bound. The same inputs give the same answer on every host and every run.
 */
import { AffinityError } from './errors.js';

/** A source of uniform numbers in [0, 1). */
export interface Rng {
  next(): number;
}

/** mulberry32: tiny, fast, and good enough for picking among servers; the same seed gives the same sequence. */
export function seededRng(seed: number): Rng {
  let s = seed >>> 0;
  return {
    next(): number {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

/**
 * Power of two choices: two distinct items drawn at random, the less loaded one wins (the first drawn on a tie).
 * Undefined for an empty list. Spreads load nearly as well as "least loaded" without every chooser herding onto
 * the same item from slightly stale loads.
 */
export function powerOfTwoChoices<T>(items: readonly T[], load: (t: T) => number, rng: Rng): T | undefined {
  const n = items.length;
  if (n === 0) return undefined;
  if (n === 1) return items[0];
  const i = Math.min(n - 1, Math.floor(rng.next() * n));
  let j = Math.min(n - 2, Math.floor(rng.next() * (n - 1)));
  if (j >= i) j++;
  const a = items[i]!;
  const b = items[j]!;
  return load(b) < load(a) ? b : a;
}

/** murmur3 (x86, 32-bit) over UTF-16 code units, two per block: a seeded hash with good avalanche. */
export function murmur3(text: string, seed: number): number {
  let h = seed >>> 0;
  const len = text.length;
  let i = 0;
  for (; i + 1 < len; i += 2) {
    let k = (text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16)) >>> 0;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < len) {
    let k = text.charCodeAt(i);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= len * 2;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// Rendezvous weight of (key, member): the member hashed with a seed derived from the key, widened to 53 bits with
// a second seed so that ties between members are practically impossible (and broken by id when they happen).
const KEY_SEED_A = 0x9747b28c;
const KEY_SEED_B = 0x5bd1e995;

function weight(member: string, seedA: number, seedB: number): number {
  return murmur3(member, seedA) * 2097152 + (murmur3(member, seedB) >>> 11);
}

function better(wa: number, a: string, wb: number, b: string): boolean {
  return wa > wb || (wa === wb && a < b);
}

/** Members ranked by rendezvous (HRW) weight for `key`, highest first: the owner, then its fail-over order. */
export function rendezvousRank(key: string, members: readonly string[]): string[] {
  const sa = murmur3(key, KEY_SEED_A);
  const sb = murmur3(key, KEY_SEED_B);
  const scored = members.map((m) => ({ m, w: weight(m, sa, sb) }));
  scored.sort((x, y) => (better(x.w, x.m, y.w, y.m) ? -1 : better(y.w, y.m, x.w, x.m) ? 1 : 0));
  return scored.map((s) => s.m);
}

/**
 * The rendezvous owner of `key` (O(n), no sort). When a member joins or leaves, only the keys it wins or held move:
 * about 1/N of them.
 */
export function rendezvousOwner(key: string, members: readonly string[]): string | undefined {
  const sa = murmur3(key, KEY_SEED_A);
  const sb = murmur3(key, KEY_SEED_B);
  let best: string | undefined;
  let bestW = -1;
  for (const m of members) {
    const w = weight(m, sa, sb);
    if (best === undefined || better(w, m, bestW, best)) {
      best = m;
      bestW = w;
    }
  }
  return best;
}

/**
 * Rendezvous with bounded load: the first member in HRW order whose `load + 1 <= c * mean(load + 1)`. Some member
 * always qualifies when c >= 1 (the least loaded is at or below the mean). Keys stay with their HRW owner until it
 * is overloaded, then spill to their next choice, not to one global least-loaded member.
 * Throws AFF_ERR_BAD_FACTOR when c is not a finite number >= 1, AFF_ERR_BAD_LOAD for a NaN, infinite or negative load.
 */
export function boundedLoadOwner(
  key: string,
  members: readonly { id: string; load: number }[],
  c = 1.25,
): string | undefined {
  if (!(Number.isFinite(c) && c >= 1)) {
    throw new AffinityError(
      'AFF_ERR_BAD_FACTOR',
      `bounded-load factor must be a finite number >= 1, got ${c}`,
      {
        details: { c },
      },
    );
  }
  if (members.length === 0) return undefined;
  let sum = 0;
  const loads = new Map<string, number>();
  for (const m of members) {
    if (!(Number.isFinite(m.load) && m.load >= 0)) {
      throw new AffinityError(
        'AFF_ERR_BAD_LOAD',
        `load of ${JSON.stringify(m.id)} must be a finite number >= 0, got ${m.load}`,
        {
          details: { id: m.id, load: m.load },
        },
      );
    }
    sum += m.load + 1;
    loads.set(m.id, m.load);
  }
  const limit = (c * sum) / members.length;
  let fallback: string | undefined;
  for (const id of rendezvousRank(key, [...loads.keys()])) {
    const load = loads.get(id)!;
    if (load + 1 <= limit) return id;
    if (fallback === undefined || load < loads.get(fallback)!) fallback = id;
  }
  // Only floating-point rounding of the mean (or a repeated id) gets here: the least loaded is the honest answer.
  return fallback;
}
