/**
 * Gossip configuration: defaults in one object (one comment per value), a test profile with short timers, and
 * validation once at start into a frozen object.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ConfigError, parseConfig } from '@switchyard/core';
import { GossipError } from './errors.js';

/** Defaults for a LAN (a POP: hosts one switch apart, sub-millisecond RTT). Values follow memberlist's LAN profile. */
export const GOSSIP_LAN_DEFAULTS = {
  /** One protocol period: each member probes one other member per period. A "gossip round" in the docs is one period. */
  probeIntervalMs: 1000,
  /** How long a direct ping waits for its ack before asking `indirectChecks` others to ping the target for us. */
  probeTimeoutMs: 500,
  /** Members asked to ping a silent target on our behalf (SWIM's k). More makes false suspicion less likely. */
  indirectChecks: 3,
  /** Suspicion timeout floor = suspicionMult × log10(max(N,2)) × probeInterval; also k = suspicionMult − 2 confirmations reach it. */
  suspicionMult: 4,
  /** Suspicion timeout ceiling = this × the floor: a lone suspicion waits this long for confirmations or a refutation. */
  suspicionMaxTimeoutMult: 6,
  /** λ: an event is piggybacked on up to λ × ceil(log10(N+1)) outgoing messages by each member that learns it. */
  retransmitMult: 4,
  /** Pending events are also sent to `gossipFanout` random members this often (faster than probing alone). */
  gossipIntervalMs: 200,
  /** Members each gossip tick sends pending events to. */
  gossipFanout: 3,
  /** Full-state push-pull with one random live member this often (anti-entropy: repairs anything missed). */
  pushPullIntervalMs: 30_000,
  /** Push-pull with one random dead member or seed this often, so healed partitions and restarted hosts rejoin. */
  reconnectIntervalMs: 10_000,
  /** A closed session's tombstone is kept this long so a late claim of the old version cannot resurrect it. */
  tombstoneTtlMs: 60_000,
  /** A dead member is remembered this long (to refute and to reconnect after a partition), then forgotten. */
  deadRetentionMs: 900_000,
  /** Upper bound of every datagram sent and accepted, header and MAC included (fits an Ethernet MTU). */
  maxDatagramBytes: 1400,
  /** Datagrams stamped further than this from our clock (either way) are dropped as replayed or forged. */
  maxMessageAgeMs: 30_000,
  /** Lifeguard local health: probe timeouts are stretched by (1 + score), score in 0..awarenessMax. */
  awarenessMax: 8,
  /**
   * Send events we create to every member at once (multicast, or N − 1 unicast datagrams). Off: classic SWIM, the
   * event only rides on gossip and piggybacks (cheaper in huge unicast clusters, slower; the benchmark's baseline).
   */
  broadcastNewEvents: true,
} as const;

/** Short timers for tests on real sockets (loopback): a round is 200 ms. */
export const GOSSIP_TEST_PROFILE = {
  ...GOSSIP_LAN_DEFAULTS,
  probeIntervalMs: 200,
  probeTimeoutMs: 100,
  gossipIntervalMs: 50,
  pushPullIntervalMs: 2000,
  reconnectIntervalMs: 1000,
  tombstoneTtlMs: 10_000,
  deadRetentionMs: 60_000,
} as const;

const int = (min: number, max: number, def: number) =>
  Type.Integer({ minimum: min, maximum: max, default: def });
const D = GOSSIP_LAN_DEFAULTS;

export const GossipConfigSchema = Type.Object(
  {
    probeIntervalMs: int(10, 600_000, D.probeIntervalMs),
    probeTimeoutMs: int(1, 600_000, D.probeTimeoutMs),
    indirectChecks: int(0, 16, D.indirectChecks),
    suspicionMult: int(2, 100, D.suspicionMult),
    suspicionMaxTimeoutMult: int(1, 100, D.suspicionMaxTimeoutMult),
    retransmitMult: int(1, 100, D.retransmitMult),
    gossipIntervalMs: int(1, 600_000, D.gossipIntervalMs),
    gossipFanout: int(0, 64, D.gossipFanout),
    pushPullIntervalMs: int(10, 86_400_000, D.pushPullIntervalMs),
    reconnectIntervalMs: int(10, 86_400_000, D.reconnectIntervalMs),
    tombstoneTtlMs: int(1, 86_400_000, D.tombstoneTtlMs),
    deadRetentionMs: int(1, 86_400_000, D.deadRetentionMs),
    maxDatagramBytes: int(512, 65_000, D.maxDatagramBytes),
    maxMessageAgeMs: int(100, 86_400_000, D.maxMessageAgeMs),
    awarenessMax: int(0, 64, D.awarenessMax),
    broadcastNewEvents: Type.Boolean({ default: D.broadcastNewEvents }),
  },
  { additionalProperties: false },
);

export type GossipConfig = Static<typeof GossipConfigSchema>;

/**
 * Validates `input` (missing fields take {@link GOSSIP_LAN_DEFAULTS}) and returns it frozen.
 * Throws a {@link GossipError} `GSP_ERR_CONFIG` whose `details.field` names the first bad value.
 */
export function parseGossipConfig(input: Partial<GossipConfig> = {}): Readonly<GossipConfig> {
  let cfg: Readonly<GossipConfig>;
  try {
    cfg = parseConfig(GossipConfigSchema, input);
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new GossipError('GSP_ERR_CONFIG', err.message, { cause: err, details: { field: err.field } });
    }
    throw err;
  }
  const bad = (field: string, why: string): never => {
    throw new GossipError('GSP_ERR_CONFIG', `invalid config: ${field}: ${why}`, { details: { field } });
  };
  if (cfg.probeTimeoutMs >= cfg.probeIntervalMs)
    bad('probeTimeoutMs', 'must be shorter than probeIntervalMs');
  if (cfg.gossipIntervalMs > cfg.probeIntervalMs) bad('gossipIntervalMs', 'must not exceed probeIntervalMs');
  if (cfg.tombstoneTtlMs < 2 * cfg.pushPullIntervalMs) {
    bad(
      'tombstoneTtlMs',
      'must be at least 2 × pushPullIntervalMs, or anti-entropy could resurrect closed sessions',
    );
  }
  return cfg;
}
