/** The dispatcher plus its control API, as one {@link Startable}: what `main` runs. */
import type { FastifyInstance } from 'fastify';
import type { Logger, Startable } from '@switchyard/core';
import type { DispatcherConfig } from './config.js';
import { buildControlApi } from './control/api.js';
import { Dispatcher } from './primary/dispatcher.js';

export class DispatcherService implements Startable {
  readonly dispatcher: Dispatcher;
  private api: FastifyInstance | undefined;
  controlUrl = '';

  constructor(
    private readonly components: { logger: Logger; workerEntry?: string },
    private readonly config: Readonly<DispatcherConfig>,
  ) {
    this.dispatcher = new Dispatcher(components, config);
  }

  async start(): Promise<void> {
    await this.dispatcher.start();
    this.api = buildControlApi(this.dispatcher, {
      token: this.config.controlToken,
      readToken: this.config.controlReadToken,
    });
    this.controlUrl = await this.api.listen({ host: this.config.controlHost, port: this.config.controlPort });
    this.components.logger.info(
      { sip: this.dispatcher.addresses, control: this.controlUrl, workers: this.config.minWorkers },
      'host dispatcher listening',
    );
  }

  async stop(): Promise<void> {
    await this.dispatcher.stop();
    await this.api?.close();
  }
}
