/** The scheduler process: flags and env (`--help`), config validated once, Redis or memory store, graceful stop. */
import { Redis } from 'ioredis';
import { createLogger, parseCli, stopOnSignals, systemClock, type Logger } from '@switchyard/core';
import { MemoryRegistryStore, RedisRegistryStore, type RegistryStore } from '@switchyard/registry';
import { SchedulerApp } from './app.js';
import { SchedulerMetrics } from './metrics.js';
import { cliSpec, loadConfig } from './config.js';
import { MemoryScheduleStore } from './store/memory-schedule-store.js';
import { RedisScheduleStore } from './store/redis-schedule-store.js';
import type { ScheduleStore } from './store/schedule-store.js';

async function main(): Promise<void> {
  const cli = parseCli(cliSpec, process.argv.slice(2));
  if (cli.help) {
    process.stdout.write(cli.text);
    return;
  }
  const config = loadConfig(cli.values);
  const logger = createLogger('global-scheduler').child({ scheduler: config.id });
  const clock = systemClock;
  const clients: Redis[] = [];
  const metrics = new SchedulerMetrics();
  let store: ScheduleStore;
  let registry: RegistryStore;
  if (config.store === 'memory') {
    store = new MemoryScheduleStore();
    registry = new MemoryRegistryStore({ clock });
  } else {
    // the schedule store fails fast while Redis is down (the API answers 503, rounds abort and resume);
    // the registry has its own connection with ioredis' defaults (it blocks on its stream reads)
    const fast = redisClient(config.redis, logger, metrics, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
    const reg = redisClient(config.redis, logger, metrics, {});
    clients.push(fast, reg);
    await waitReady(fast, logger);
    store = new RedisScheduleStore({ redis: fast }, { prefix: config.prefix });
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

function redisClient(
  url: string,
  logger: Logger,
  metrics: SchedulerMetrics,
  extra: { enableOfflineQueue?: boolean; maxRetriesPerRequest?: number },
): Redis {
  const c = new Redis(url, { retryStrategy: (n) => Math.min(100 * n, 1000), ...extra });
  // count every command this process sends (the benchmark's "Redis commands per placement")
  const send = c.sendCommand.bind(c);
  c.sendCommand = ((...args: Parameters<Redis['sendCommand']>) => {
    metrics.redisCommands.inc();
    return send(...args);
  }) as Redis['sendCommand'];
  let down = false;
  c.on('error', (err) => {
    if (!down) logger.error({ err: err.message }, 'redis connection error');
    down = true;
  });
  c.on('ready', () => {
    if (down) logger.info('redis connection ready again');
    down = false;
  });
  return c;
}

async function waitReady(c: Redis, logger: Logger): Promise<void> {
  if (c.status === 'ready') return;
  logger.info('waiting for redis');
  await new Promise<void>((resolve) => c.once('ready', () => resolve()));
}

main().catch((err: unknown) => {
  process.stderr.write(`global-scheduler: ${(err as Error).message}\n`);
  process.exit(1);
});
