/**
 * Share arithmetic, pure: the `total` pending conferences of a round are split over the `n` live schedulers as
 * `floor(total / n)` each, and the `total mod n` left over go one each to the schedulers of lowest rank. The rank
 * is the scheduler's index in the id-sorted member list rotated by the round number, so the extra conference
 * does not always land on the same scheduler, and every scheduler that saw the same snapshot computes the same
 * split: the shares sum to exactly `total` and differ from `total / n` by less than one.
 */

export interface Share {
  /** Conferences this scheduler should claim in the round. */
  share: number;
  /** Its rank in the round (0 = first to get a remainder), or -1 when it is not a member of the round. */
  rank: number;
  /** Members of the round (live schedulers counted for it). */
  n: number;
}

/** The rank of `id` among `members` in round `round`: index in sorted order, rotated by the round number. */
export function rankOf(members: readonly string[], id: string, round: number): number {
  const sorted = [...members].sort();
  const i = sorted.indexOf(id);
  if (i < 0) return -1;
  const n = sorted.length;
  return (((i - round) % n) + n) % n;
}

/**
 * This scheduler's share of `total` in round `round`. A scheduler that is not in `members` (it joined after the
 * round's snapshot was taken) gets 0: the members' shares already cover the total.
 */
export function shareOf(total: number, members: readonly string[], id: string, round: number): Share {
  const unique = [...new Set(members)];
  const n = unique.length;
  const rank = rankOf(unique, id, round);
  if (rank < 0 || n === 0 || total <= 0) return { share: 0, rank, n };
  const base = Math.floor(total / n);
  const extra = total % n;
  return { share: base + (rank < extra ? 1 : 0), rank, n };
}
