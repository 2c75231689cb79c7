/**
 * A POP host's conference-server agent: registers the host in the registry as a conference server (id = the POP
 * host id, address = the host's SIP address, its capacity) and publishes its load, the participants (dialogs) its
 * dispatcher's workers hold, read from the dispatcher's control API. It runs beside the host's dispatcher and
 * pop-router (a sidecar), so neither needs to know the registry's conference-server records.
 */
import type { Clock, Logger, Startable, TimerHandle } from '@switchyard/core';
import type { RegistryStore } from '@switchyard/registry';
import { ServerAgent, type ServerAgentSettings } from '@switchyard/server-agent';

export interface HostAgentInit {
  /** POP host id: the conference-server id the schedulers assign conferences to. */
  id: string;
  /** The host's SIP address, `ip:port`. */
  sip: string;
  region: string;
  capacity: number;
  /** The host dispatcher's control API base URL (its `/workers` gives the load). */
  dispatcherUrl: string;
  /** Bearer token for the dispatcher's control API (reads that name sessions may need it). */
  dispatcherToken: string;
  /** How often the load is read from the dispatcher, ms. */
  loadEveryMs: number;
  agent?: Partial<ServerAgentSettings>;
}

interface WorkersAnswer {
  workers: { state?: { dialogs?: number } | null }[];
}

export class HostAgent implements Startable {
  private readonly agent: ServerAgent;
  private timer: TimerHandle | undefined;
  private readonly log: Logger;

  constructor(
    private readonly components: { store: RegistryStore; clock: Clock; logger: Logger },
    private readonly init: Readonly<HostAgentInit>,
  ) {
    this.log = components.logger;
    this.agent = new ServerAgent(components, init.agent);
  }

  async start(): Promise<void> {
    const host = this.init.sip.slice(0, this.init.sip.lastIndexOf(':'));
    await this.agent.start({
      id: this.init.id,
      address: this.init.sip,
      region: this.init.region,
      capacity: this.init.capacity,
      probePort: 0,
      probeHost: host,
    });
    this.timer = this.components.clock.setInterval(() => void this.refresh(), this.init.loadEveryMs);
    this.log.info({ id: this.init.id, sip: this.init.sip, probe: this.agent.probeUrl }, 'registered');
  }

  /** Participants held by the host's workers; undefined when the dispatcher does not answer. */
  async participants(): Promise<number | undefined> {
    try {
      const res = await fetch(`${this.init.dispatcherUrl}/workers`, {
        headers: { authorization: `Bearer ${this.init.dispatcherToken}` },
        signal: AbortSignal.timeout(this.init.loadEveryMs),
      });
      if (!res.ok) return undefined;
      const body = (await res.json()) as WorkersAnswer;
      return body.workers.reduce((n, w) => n + (w.state?.dialogs ?? 0), 0);
    } catch {
      return undefined;
    }
  }

  private async refresh(): Promise<void> {
    const n = await this.participants();
    // a dispatcher that does not answer is unhealthy: the schedulers' probe says so and they move its conferences
    this.agent.setHealthy(n !== undefined);
    if (n !== undefined) await this.agent.setLoad(n).catch((err: unknown) => this.log.warn({ err }, 'load'));
  }

  async stop(): Promise<void> {
    this.components.clock.clearInterval(this.timer);
    this.timer = undefined;
    await this.agent.stop();
  }
}
