/** Keeps one record alive: put at start, renew by heartbeat, re-put after expiry, remove at stop. */
import { Type } from '@sinclair/typebox';
import {
  ConfigError,
  hasCode,
  parseConfig,
  silentLogger,
  type Clock,
  type Logger,
  type Startable,
  type TimerHandle,
} from '@switchyard/core';
import type { RecordInput, RecordPatch, RegistryStore, ServiceRecord } from './types.js';

// the rest of the record is checked by the store at put(), with the record's own typed errors
const LeaseConfigSchema = Type.Object({
  record: Type.Object({ ttlMs: Type.Number({ exclusiveMinimum: 0 }) }),
  renewEveryMs: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
});

export type LeaseEvent = { type: 'registered' | 'renewed' | 'lost' | 'error'; error?: unknown };

export class Lease implements Startable {
  private readonly store: RegistryStore;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private input: RecordInput;
  private readonly renewEveryMs: number;
  private current: ServiceRecord | undefined;
  private timer: TimerHandle | undefined;
  private running = false;
  /** Operations run one at a time so a renew never races an update or a re-put. */
  private chain: Promise<unknown> = Promise.resolve();
  private readonly listeners = new Set<(e: LeaseEvent) => void>();

  /** Throws a `ConfigError` naming `record.ttlMs` or `renewEveryMs` when either is not a usable interval. */
  constructor(
    components: { store: RegistryStore; clock: Clock; logger?: Logger },
    init: { record: RecordInput; renewEveryMs?: number },
  ) {
    this.store = components.store;
    this.clock = components.clock;
    this.logger = components.logger ?? silentLogger;
    const config = parseConfig(LeaseConfigSchema, init, { convert: false });
    this.input = { ...init.record, meta: { ...(init.record.meta ?? {}) } };
    const ttl = config.record.ttlMs;
    // a third of the TTL leaves two renewals' worth of slack before the record expires
    this.renewEveryMs = config.renewEveryMs ?? Math.max(1, Math.floor(ttl / 3));
    if (this.renewEveryMs >= ttl) {
      throw new ConfigError('renewEveryMs', `must be in (0, ttlMs) (got ${this.renewEveryMs})`);
    }
  }

  get record(): ServiceRecord | undefined {
    return this.current;
  }

  on(listener: (e: LeaseEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Puts the record (throws the store's typed error if it is invalid), then renews it every renewEveryMs. */
  async start(): Promise<void> {
    if (this.running) return;
    await this.serial(() => this.register());
    this.running = true;
    this.timer = this.clock.setInterval(
      () => void this.serial(() => this.tick()).catch(() => undefined),
      this.renewEveryMs,
    );
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.clock.clearInterval(this.timer);
    this.timer = undefined;
    await this.serial(async () => {
      await this.store
        .remove(this.input.service, this.input.id)
        .catch((err: unknown) => this.emit({ type: 'error', error: err }));
      this.current = undefined;
    });
  }

  /** Changes the record and publishes at once; re-puts (with the patch) if it had expired. */
  update(patch: RecordPatch): Promise<ServiceRecord> {
    return this.serial(async () => {
      try {
        this.current = await this.store.update(this.input.service, this.input.id, patch, {
          ttlMs: this.input.ttlMs,
        });
        this.input = { ...this.input, ...patch };
        return this.current;
      } catch (err) {
        if (!hasCode(err, 'REG_ERR_NOT_FOUND')) throw err;
        this.emit({ type: 'lost' });
        this.input = { ...this.input, ...patch };
        return this.register();
      }
    });
  }

  private async tick(): Promise<void> {
    try {
      this.current = await this.store.renew(this.input.service, this.input.id, this.input.ttlMs);
      this.emit({ type: 'renewed' });
    } catch (err) {
      if (hasCode(err, 'REG_ERR_NOT_FOUND')) {
        this.logger.warn({ service: this.input.service, id: this.input.id }, 'lease lost; registering again');
        this.emit({ type: 'lost' });
        try {
          await this.register();
        } catch (err2) {
          this.emit({ type: 'error', error: err2 });
        }
      } else {
        this.emit({ type: 'error', error: err });
      }
    }
  }

  private async register(): Promise<ServiceRecord> {
    // A re-put after the record lapsed keeps the state it last had: an operator's `draining` (set on the record
    // by someone else, seen here through renew/update answers) must survive a lapse, not be undone by the
    // original input. `down` is a scheduler's probe verdict that the scheduler itself clears when the server
    // answers, so a re-registration starts from the input's state instead.
    const last = this.current?.state;
    if (last !== undefined && last !== 'down') this.input = { ...this.input, state: last };
    this.current = await this.store.put(this.input);
    this.emit({ type: 'registered' });
    return this.current;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private emit(e: LeaseEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.logger.error({ err }, 'lease listener threw');
      }
    }
  }
}
