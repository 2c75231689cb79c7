/** Every tunable of a scheduler, with its default and why. */
export interface SchedulerSettings {
  /** Round interval: how often each scheduler takes its share of the pending set. */
  roundIntervalMs: number;
  /** Scheduling window: conferences starting within this many ms are due for placement. */
  windowMs: number;
  /** A claim's lease: unplaced claims of a dead scheduler return to pending after this. */
  claimLeaseMs: number;
  /** The scheduler's own registry lease (its TTL); renewed every third of it. */
  leaseTtlMs: number;
  /** Keep-alive probe interval per conference server. */
  probeIntervalMs: number;
  /** Consecutive failed probes after which a server is marked down and its conferences move. */
  misses: number;
  /** One probe's timeout. */
  probeTimeoutMs: number;
  /** Most conferences placed by one Lua call (bounds how long one script holds Redis). */
  placeBatch: number;
  /** Expired schedule entries ended per round. */
  sweepBatch: number;
  /** Default conference duration when the request gives none. */
  defaultDurationS: number;
  /** Registry service name of schedulers. */
  schedulerService: string;
  /** Registry service name of conference servers. */
  serverService: string;
  /** Registry service name under which assignments are published on the feed ('' = do not publish). */
  assignmentService: string;
  /** Fallback regions per region, nearest first. */
  fallbacks: Record<string, string[]>;
  /** After the configured fallbacks, any other region may take a conference rather than leave it unplaced. */
  fallbackAnyRegion: boolean;
}

export const SchedulerDefaults: Readonly<SchedulerSettings> = Object.freeze({
  roundIntervalMs: 1000, // one second: a new conference waits half a round on average
  windowMs: 60_000, // conferences starting within the next minute are placed now, so servers can get ready
  claimLeaseMs: 5000, // five rounds: far longer than a round takes, short enough that a crash costs little
  leaseTtlMs: 3000, // a dead scheduler drops out of N within three seconds
  probeIntervalMs: 1000, // with misses 3: a dead server is detected in about three seconds
  misses: 3, // one lost probe is not a failure; three in a row is
  probeTimeoutMs: 500, // half the interval, so probes never pile up
  placeBatch: 200, // ~1-2 ms of Redis time per script at 50 candidates
  sweepBatch: 500, // ending conferences is cheap; bounded so a backlog cannot stall a round
  defaultDurationS: 3600, // an hour
  schedulerService: 'scheduler',
  serverService: 'conference-server',
  assignmentService: 'conference',
  fallbacks: {},
  fallbackAnyRegion: true,
});

/** Short timers for tests. */
export const SchedulerTestProfile: Readonly<SchedulerSettings> = Object.freeze({
  ...SchedulerDefaults,
  roundIntervalMs: 100,
  claimLeaseMs: 500,
  leaseTtlMs: 600,
  probeIntervalMs: 100,
  probeTimeoutMs: 80,
});
