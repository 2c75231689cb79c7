/** The scheduler process: flags and env (`--help`), config validated once, Redis or memory store, graceful stop. */
import { createLogger, stopOnSignals, systemClock } from '@switchyard/core';
import { MemoryRegistryStore, RedisRegistryStore, type RegistryStore } from '@switchyard/registry';
import { SchedulerApp } from './app.js';
import { SchedulerMetrics } from './metrics.js';
import { loadConfig } from './config.js';
import { createRedisClient, waitReady, type RedisClient } from './redis-clients.js';
import { MemoryScheduleStore } from './store/memory-schedule-store.js';
import { RedisScheduleStore } from './store/redis-schedule-store.js';
import { RegionPartitionedStore } from './store/region-partitioned-store.js';
import type { ScheduleStore } from './store/schedule-store.js';

async function main(): Promise<void> {
  const loaded = loadConfig(process.argv.slice(2), process.env);
  if (loaded.help) {
    process.stdout.write(loaded.text);
    return;
  }
  const config = loaded.config;
  const logger = createLogger('global-scheduler').child({ scheduler: config.id });
  const clock = systemClock;
  const clients: RedisClient[] = [];
  const metrics = new SchedulerMetrics();
  let store: ScheduleStore;
  let registry: RegistryStore;
  if (config.store === 'memory') {
    store = new MemoryScheduleStore();
    registry = new MemoryRegistryStore({ clock });
  } else {
    // the schedule store fails fast while Redis is down (the API answers 503, rounds abort and resume);
    // the registry has its own connection with ioredis' defaults (it blocks on its stream reads)
    const fast = createRedisClient(config, logger, metrics, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
    const reg = createRedisClient(config, logger, metrics);
    clients.push(fast, reg);
    await waitReady(fast, logger);
    const storeInit = {
      prefix: config.prefix,
      waitReplicas: config.redisWaitReplicas,
      waitTimeoutMs: config.redisWaitTimeoutMs,
    };
    const regions = config.regionPartitions.flatMap((r) => r.split(','));
    store = regions.length
      ? new RegionPartitionedStore(
          { redis: fast },
          {
            ...storeInit,
            regions,
            reserveTtlMs: config.regionReserveTtlMs,
            ...(config.faultPauseAfterReserve ? { afterReserve: pauseForever } : {}),
          },
        )
      : new RedisScheduleStore({ redis: fast }, storeInit);
    registry = new RedisRegistryStore({ redis: reg, clock, logger }, { prefix: config.prefix });
  }
  await registry.start();
  const app = new SchedulerApp({ store, registry, clock, logger, metrics }, config);
  await app.start();
  logger.info({ url: app.url, store: config.store }, 'scheduler listening');
  process.stdout.write(
    `${JSON.stringify({ scheduler: 'ready', id: config.id, url: app.url, pid: process.pid })}\n`,
  );
  stopOnSignals(
    {
      stop: async () => {
        await app.stop();
        await registry.stop();
        for (const c of clients) c.disconnect();
      },
    },
    logger,
  );
}

/** The crash-test fault: says where it stopped and never returns (the test kills the process by pid). */
function pauseForever(): Promise<void> {
  process.stdout.write(`${JSON.stringify({ fault: 'paused-after-reserve', pid: process.pid })}\n`);
  return new Promise<void>(() => undefined);
}

main().catch((err: unknown) => {
  process.stderr.write(`global-scheduler: ${(err as Error).message}\n`);
  process.exit(1);
});
