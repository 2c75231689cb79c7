/**
 * The scheduler's view of conference servers, kept from the registry feed (snapshot, then every change as it
 * happens), and the candidate list for a region: live, serving, with capacity, own region first, then fallbacks.
 */
import type { Clock, Logger } from '@switchyard/core';
import type { FeedEvent, RegistryStore, ServiceRecord, Watch } from '@switchyard/registry';
import type { Candidate } from '../store/schedule-store.js';

export class ServerView {
  private readonly records = new Map<string, ServiceRecord>();
  /** Last known address per server, kept after its record expires: probes and logs still need it. */
  private readonly lastAddress = new Map<string, ServiceRecord>();
  private watch: Watch | undefined;
  private loop: Promise<void> | undefined;
  private synced = false;
  /** When each server was last known alive (a feed event about it, a probe answered), ms on the clock. */
  private readonly seenAt = new Map<string, number>();
  /** Called for every change, after the view applied it. */
  onChange: ((e: FeedEvent) => void) | undefined;
  /** Called when a server may take more than before: it joined, grew, or turned serving. */
  onCapacity: ((serverId: string) => void) | undefined;

  constructor(
    private readonly components: { registry: RegistryStore; clock: Clock; logger: Logger },
    private readonly init: {
      service: string;
      fallbacks: Record<string, string[]>;
      fallbackAnyRegion: boolean;
    },
  ) {}

  async start(): Promise<void> {
    this.watch = this.components.registry.watch(this.init.service);
    const w = this.watch;
    this.loop = (async () => {
      try {
        for await (const e of w) this.apply(e);
      } catch (err) {
        this.components.logger.warn({ err }, 'server feed ended');
      }
    })();
  }

  async stop(): Promise<void> {
    this.watch?.close();
    await this.loop;
  }

  get ready(): boolean {
    return this.synced;
  }

  apply(e: FeedEvent): void {
    switch (e.type) {
      case 'snapshot': {
        const before = new Map(this.records);
        this.records.clear();
        for (const r of e.records) this.set(r, before.get(r.id));
        this.synced = true;
        break;
      }
      case 'added':
      case 'updated':
        this.set(e.record, this.records.get(e.record.id));
        break;
      case 'expired':
      case 'removed':
        this.records.delete(e.record.id);
        this.seen(e.record.id); // alive until now, as far as the registry knew
        break;
      case 'reset':
        this.synced = false; // a snapshot follows at once
        break;
    }
    this.onChange?.(e);
  }

  private set(r: ServiceRecord, before: ServiceRecord | undefined): void {
    this.records.set(r.id, r);
    this.lastAddress.set(r.id, r);
    this.seen(r.id);
    const grew =
      r.state === 'serving' &&
      r.capacity > 0 &&
      (!before || before.state !== 'serving' || r.capacity > before.capacity);
    if (grew) this.onCapacity?.(r.id);
  }

  /** Notes that the server was alive now (a probe answered). */
  seen(id: string): void {
    this.seenAt.set(id, this.components.clock.now());
  }

  /** When the server was last known alive; a server never seen by this process counts from now. */
  lastSeen(id: string): number {
    let t = this.seenAt.get(id);
    if (t === undefined) this.seenAt.set(id, (t = this.components.clock.now()));
    return t;
  }

  /** Drops everything known about a dead server (after its grace). */
  forget(id: string): void {
    this.seenAt.delete(id);
    if (!this.records.has(id)) this.lastAddress.delete(id);
  }

  get(id: string): ServiceRecord | undefined {
    return this.records.get(id);
  }

  /** The last record seen for the server, even if it has expired since. */
  lastKnown(id: string): ServiceRecord | undefined {
    return this.lastAddress.get(id);
  }

  /** Every server id this view has seen and not forgotten, live or not. */
  known(): string[] {
    return [...this.lastAddress.keys()];
  }

  all(): ServiceRecord[] {
    return [...this.records.values()];
  }

  /** Servers in the view by state (the `scheduler_view_servers` gauge, the no-candidates warning). */
  counts(): Record<'serving' | 'draining' | 'down', number> {
    const out = { serving: 0, draining: 0, down: 0 };
    for (const r of this.records.values()) out[r.state]++;
    return out;
  }

  /**
   * Serving servers with capacity, tiered: the region (0), its fallbacks in order (1..), then any other region
   * (when the settings allow it, or `anyRegion` is set: an operator's move may go anywhere).
   *
   * A record in the view is live until the feed says `expired` or `removed` (the registry's sweepers publish an
   * expiry within their interval); its `expiresAt` is NOT looked at: it is the one of the record's last put or
   * update, since a renewal (the agent's heartbeat) moves expiresAt in the store but publishes nothing. Filtering on
   * it dropped every server whose load had not changed for one lease TTL from the candidates, although its agent
   * was renewing: a conference retried then found `no-servers`, and once its back-off was capped at a multiple of
   * the agents' periodic publish it could keep missing their short windows (the fleet-sim kill -9 flake,
   * docs/global-scheduler.md).
   */
  candidates(region: string, anyRegion = false): Candidate[] {
    const order = [region, ...(this.init.fallbacks[region] ?? [])];
    const out: Candidate[] = [];
    for (const r of this.records.values()) {
      if (r.state !== 'serving' || r.capacity <= 0) continue;
      let tier = order.indexOf(r.region);
      if (tier < 0) {
        if (!this.init.fallbackAnyRegion && !anyRegion) continue;
        tier = order.length;
      }
      out.push({ id: r.id, address: r.address, capacity: r.capacity, load: r.load, tier, region: r.region });
    }
    return out;
  }
}
