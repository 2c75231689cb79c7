/**
 * Follows the registry's change feed (the Redis Streams `watch` of @switchyard/registry) for conference servers,
 * assignments and schedulers, and feeds every event to the state. The watch resumes by itself after a Redis
 * restart (reset + snapshot); the registry endpoint shows down while Redis does not answer.
 */
import type { Clock, Logger, Startable, TimerHandle } from '@switchyard/core';
import type { RegistryStore, Watch } from '@switchyard/registry';
import type { ConsoleState, FeedKind } from '../state/console-state.js';

export interface FeedServices {
  servers: string;
  assignments: string;
  schedulers: string;
}

export class RegistryFeed implements Startable {
  private readonly watches: Watch[] = [];
  private readonly loops: Promise<void>[] = [];
  private healthTimer: TimerHandle | undefined;

  constructor(
    private readonly components: {
      registry: RegistryStore;
      state: ConsoleState;
      clock: Clock;
      logger: Logger;
      /** The state changed for another reason (the registry's health). */
      onChange: () => void;
      /** A feed event reached the state. */
      onFeed: () => void;
      /** Answers whether Redis is reachable now (PING). */
      ping: () => Promise<boolean>;
    },
    private readonly services: FeedServices,
    private readonly healthEveryMs = 1000,
  ) {}

  async start(): Promise<void> {
    const { registry } = this.components;
    for (const kind of ['servers', 'assignments', 'schedulers'] as FeedKind[]) {
      const w = registry.watch(this.services[kind]);
      this.watches.push(w);
      this.loops.push(this.follow(kind, w));
    }
    await this.checkHealth();
    this.healthTimer = this.components.clock.setInterval(() => void this.checkHealth(), this.healthEveryMs);
  }

  async stop(): Promise<void> {
    if (this.healthTimer !== undefined) this.components.clock.clearInterval(this.healthTimer);
    for (const w of this.watches) w.close();
    await Promise.allSettled(this.loops);
  }

  private async follow(kind: FeedKind, w: Watch): Promise<void> {
    const { state, clock, logger, onFeed } = this.components;
    try {
      for await (const e of w) {
        state.feed(kind, e, clock.now());
        if (e.type === 'reset') logger.warn({ service: e.service, reason: e.reason }, 'registry feed reset');
        onFeed();
      }
    } catch (err) {
      logger.error({ err, kind }, 'registry feed ended');
    }
  }

  private async checkHealth(): Promise<void> {
    const { state, clock, onChange } = this.components;
    const up = await this.components.ping().catch(() => false);
    state.registryStatus(up, clock.now(), up ? undefined : 'redis unreachable');
    if (state.changed) onChange();
  }
}
