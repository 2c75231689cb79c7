/**
 * The process's Redis connections, from the config: one Redis (`--redis`), Redis Cluster (`--redis-cluster`, ioredis
 * `Cluster`, which follows MOVED/ASK and failovers), or a master behind Sentinel (`--redis-sentinels`, ioredis asks
 * the sentinels for the current master and reconnects to the new one after a failover).
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '@switchyard/core';
import type { SchedulerConfig } from './config.js';
import type { SchedulerMetrics } from './metrics.js';

export type RedisClient = Redis | Cluster;

export interface ClientOptions {
  /** false: commands fail at once while disconnected (the schedule store: the API answers 503 meanwhile). */
  enableOfflineQueue?: boolean;
  maxRetriesPerRequest?: number | null;
}

const retryStrategy = (n: number) => Math.min(100 * n, 1000);

export function createRedisClient(
  config: Pick<SchedulerConfig, 'redis' | 'clusterNodes' | 'sentinelNodes' | 'redisSentinelName'>,
  logger: Logger,
  metrics: SchedulerMetrics | undefined,
  extra: ClientOptions = {},
): RedisClient {
  let c: RedisClient;
  if (config.clusterNodes.length) {
    c = new Cluster([...config.clusterNodes], {
      clusterRetryStrategy: retryStrategy,
      // ioredis refreshes its slot map on MOVED/ASK only; after a master dies and its replica is promoted nothing
      // is redirected (the old connection is simply closed), so the map is refreshed every second
      slotsRefreshInterval: 1000,
      ...(extra.enableOfflineQueue === undefined ? {} : { enableOfflineQueue: extra.enableOfflineQueue }),
      redisOptions:
        extra.maxRetriesPerRequest === undefined ? {} : { maxRetriesPerRequest: extra.maxRetriesPerRequest },
    });
  } else {
    const base: RedisOptions = { retryStrategy, ...extra };
    c = config.sentinelNodes.length
      ? new Redis({ ...base, sentinels: [...config.sentinelNodes], name: config.redisSentinelName })
      : new Redis(config.redis, base);
  }
  if (metrics) {
    // count every command this process sends (the benchmark's "Redis commands per placement")
    const send = c.sendCommand.bind(c);
    c.sendCommand = ((...args: Parameters<Redis['sendCommand']>) => {
      metrics.redisCommands.inc();
      return send(...args);
    }) as Redis['sendCommand'];
  }
  let down = false;
  c.on('error', (err: Error) => {
    if (!down) logger.error({ err: err.message }, 'redis connection error');
    down = true;
  });
  c.on('ready', () => {
    if (down) logger.info('redis connection ready again');
    down = false;
  });
  return c;
}

/** Resolves once the client is ready (the first connection may take a while: Redis starting, sentinels asked). */
export async function waitReady(c: RedisClient, logger: Logger): Promise<void> {
  if (c.status === 'ready') return;
  logger.info('waiting for redis');
  await new Promise<void>((resolve) => c.once('ready', () => resolve()));
}
