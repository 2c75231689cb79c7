/**
 * Lifeguard's suspicion timeout, as pure arithmetic: a suspicion starts at a maximum and shrinks towards a minimum
 * as independent confirmations arrive, on a log scale (memberlist `suspicion.go`).
 */

export interface SuspicionBounds {
  /** Timeout once `k` confirmations are in. */
  minMs: number;
  /** Timeout with no confirmation. */
  maxMs: number;
  /** Confirmations expected (suspicionMult − 2, fewer in tiny clusters). */
  k: number;
}

/** Bounds for a cluster of `n` members: min = mult × max(1, log10 n) × probeInterval, max = maxMult × min. */
export function suspicionBounds(
  n: number,
  cfg: { suspicionMult: number; suspicionMaxTimeoutMult: number; probeIntervalMs: number },
): SuspicionBounds {
  const scale = Math.max(1, Math.log10(Math.max(1, n)));
  const minMs = Math.floor(cfg.suspicionMult * scale * cfg.probeIntervalMs);
  const maxMs = cfg.suspicionMaxTimeoutMult * minMs;
  // in a cluster of n, at most n − 2 others can confirm (not the suspect, not the first suspector)
  const k = Math.max(0, Math.min(cfg.suspicionMult - 2, n - 2));
  return { minMs, maxMs, k };
}

/** Total timeout of a suspicion with `confirmations` independent confirmations. */
export function suspicionTimeout(confirmations: number, b: SuspicionBounds): number {
  if (b.k < 1) return b.minMs;
  const frac = Math.log(confirmations + 1) / Math.log(b.k + 1);
  const raw = b.maxMs - frac * (b.maxMs - b.minMs);
  return Math.floor(Math.max(b.minMs, raw));
}

/** Time left (may be negative) after `elapsedMs` of a suspicion with `confirmations` confirmations. */
export function remainingSuspicionTime(confirmations: number, elapsedMs: number, b: SuspicionBounds): number {
  return suspicionTimeout(confirmations, b) - elapsedMs;
}
