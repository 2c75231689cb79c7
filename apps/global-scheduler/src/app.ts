/**
 * One scheduler process put together: the schedule store (Redis or memory), the registry, the scheduler and its
 * API. `main.ts` builds the components from the command line; tests and tools can start it in-process.
 */
import type { FastifyInstance } from 'fastify';
import type { Clock, Logger, Startable } from '@switchyard/core';
import type { RegistryStore } from '@switchyard/registry';
import { buildApi } from './api/api.js';
import type { SchedulerConfig } from './config.js';
import { Scheduler } from './scheduler.js';
import { tunablesOf } from './settings.js';
import type { SchedulerMetrics } from './metrics.js';
import type { ScheduleStore } from './store/schedule-store.js';

export interface SchedulerAppComponents {
  store: ScheduleStore;
  registry: RegistryStore;
  clock: Clock;
  logger: Logger;
  metrics?: SchedulerMetrics;
}

export class SchedulerApp implements Startable {
  readonly scheduler: Scheduler;
  private api: FastifyInstance | undefined;
  /** `http://host:port` once listening. */
  url: string | undefined;
  private boundAddress: string | undefined;

  constructor(
    private readonly components: SchedulerAppComponents,
    private readonly config: Readonly<SchedulerConfig>,
  ) {
    this.scheduler = new Scheduler(
      {
        store: components.store,
        registry: components.registry,
        clock: components.clock,
        logger: components.logger,
        ...(components.metrics ? { metrics: components.metrics } : {}),
      },
      {
        ...tunablesOf(config),
        id: config.id,
        // read at start(), after the API is listening: with --port 0 the bound port is known by then
        address: () => config.advertise || this.boundAddress || `${config.host}:${config.port}`,
        region: config.region,
      },
    );
  }

  async start(): Promise<void> {
    const { store, registry, clock } = this.components;
    this.api = await buildApi(
      { scheduler: this.scheduler, store, registry, clock },
      {
        token: this.config.token,
        region: this.config.region,
        retryAfterS: Math.max(1, Math.ceil(this.config.leaseTtlMs / 1000)),
      },
    );
    this.url = await this.api.listen({ host: this.config.host, port: this.config.port });
    this.boundAddress = `${this.config.host}:${new URL(this.url).port}`;
    await this.scheduler.start();
  }

  async stop(): Promise<void> {
    await this.api?.close();
    await this.scheduler.stop();
  }
}
