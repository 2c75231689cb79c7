/**
 * Many simulated conference servers in one process, each a real {@link ServerAgent} (registry lease, load
 * publishing, HTTP probe endpoint on its own port). With `followAssignments`, a server's load follows the
 * conferences the schedulers assign to it (read from the registry feed), published in coalesced batches.
 */
import { silentLogger, type Clock, type Logger, type TimerHandle } from '@switchyard/core';
import type { RegistryStore, Watch } from '@switchyard/registry';
import { ServerAgent, type ServerAgentSettings } from '@switchyard/server-agent';

export interface FleetSettings {
  /** Number of simulated servers. */
  count: number;
  /** Server ids are `<idPrefix><n>`. */
  idPrefix: string;
  /** Regions, given to servers round-robin. */
  regions: string[];
  /** Capacity of each server (participants). */
  capacity: number;
  /** Address the probe endpoints bind to; also the host of the simulated service addresses. */
  host: string;
  /** First simulated SIP port (the address each server publishes; nothing listens there). */
  basePort: number;
  /** Load follows the assignments on the feed (registry service `assignmentService`). */
  followAssignments: boolean;
  assignmentService: string;
  /** How often followed load changes are published (coalesced). */
  loadEveryMs: number;
  agent: Partial<ServerAgentSettings>;
}

export const FleetDefaults: Readonly<FleetSettings> = Object.freeze({
  count: 50, // the size the scheduler's multi-process tests use
  idPrefix: 'srv-',
  regions: ['default'],
  capacity: 1000, // participants
  host: '127.0.0.1', // loopback only
  basePort: 25060, // published, not bound: the scheduler only stores the address
  followAssignments: true, // so least-loaded placement sees real load changes
  assignmentService: 'conference',
  loadEveryMs: 250, // a few publishes per second per server at most, however many conferences move
  agent: {},
});

export class FleetSim {
  readonly settings: Readonly<FleetSettings>;
  readonly agents: ServerAgent[] = [];
  private readonly log: Logger;
  private watch: Watch | undefined;
  private loop: Promise<void> | undefined;
  private timer: TimerHandle | undefined;
  private readonly assigned = new Map<string, { serverId: string; load: number }>();
  private readonly byId = new Map<string, ServerAgent>();
  private dirty = false;

  constructor(
    private readonly components: { store: RegistryStore; clock: Clock; logger?: Logger },
    init: Partial<FleetSettings> = {},
  ) {
    this.settings = Object.freeze({ ...FleetDefaults, ...init });
    this.log = components.logger ?? silentLogger;
  }

  async start(): Promise<void> {
    const s = this.settings;
    for (let i = 0; i < s.count; i++) {
      const agent = new ServerAgent({ ...this.components, logger: this.log }, s.agent);
      const id = `${s.idPrefix}${i}`;
      await agent.start({
        id,
        address: `${s.host}:${s.basePort + i}`,
        region: s.regions[i % s.regions.length]!,
        capacity: s.capacity,
        probePort: 0,
        probeHost: s.host,
      });
      this.agents.push(agent);
      this.byId.set(id, agent);
    }
    if (s.followAssignments) {
      const w = this.components.store.watch(s.assignmentService);
      this.watch = w;
      this.loop = (async () => {
        for await (const e of w) {
          if (e.type === 'snapshot') {
            this.assigned.clear();
            for (const r of e.records)
              this.assigned.set(r.id, { serverId: r.meta['serverId'] ?? '', load: r.load });
          } else if (e.type === 'added' || e.type === 'updated') {
            this.assigned.set(e.record.id, {
              serverId: e.record.meta['serverId'] ?? '',
              load: e.record.load,
            });
          } else if (e.type === 'expired' || e.type === 'removed') {
            this.assigned.delete(e.record.id);
          }
          this.dirty = true;
        }
      })().catch((err: unknown) => this.log.warn({ err }, 'fleet: assignment feed ended'));
      this.timer = this.components.clock.setInterval(() => void this.publishLoads(), s.loadEveryMs);
    }
  }

  private async publishLoads(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    const sums = new Map<string, number>();
    for (const a of this.assigned.values()) sums.set(a.serverId, (sums.get(a.serverId) ?? 0) + a.load);
    await Promise.all(
      [...this.byId].map(([id, agent]) => agent.setLoad(sums.get(id) ?? 0).catch(() => undefined)),
    );
  }

  async stop(): Promise<void> {
    this.components.clock.clearInterval(this.timer);
    this.watch?.close();
    await this.loop;
    await Promise.all(this.agents.map((a) => a.stop()));
  }
}
