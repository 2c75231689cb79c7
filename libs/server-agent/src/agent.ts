/**
 * A conference server's agent: registers the server in the registry with a TTL lease (renewed by heartbeat),
 * publishes its load at once when it changes and again every `publishEveryMs`, and answers the schedulers'
 * keep-alive probe on `GET /healthz`. The host dispatcher embeds one; the fleet simulator runs many.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { silentLogger, type Clock, type Logger, type TimerHandle } from '@switchyard/core';
import { Lease, type RegistryStore, type ServiceRecord } from '@switchyard/registry';
import { AgentError } from './errors.js';

export interface AgentStartOptions {
  /** Server id, unique among conference servers. */
  id: string;
  /** The server's service address (what conferences are sent to), e.g. `127.0.0.1:5060`. */
  address: string;
  region: string;
  /** Capacity in participants. */
  capacity: number;
  /** Port of the `/healthz` probe endpoint; 0 picks a free one. Not used with `probe: 'sip'`. */
  probePort?: number;
  /**
   * How the schedulers check this server is alive (contract C1). `'http'` (default): the agent serves
   * `GET /healthz` and publishes its URL in `meta.probe`. `'sip'`: the agent serves nothing; the record carries
   * `meta.probe = 'sip'` and the schedulers send SIP OPTIONS to `address`, which the server's SIP stack answers.
   */
  probe?: 'http' | 'sip';
  /** Address the probe endpoint binds to (default `127.0.0.1`). */
  probeHost?: string;
}

export interface ServerAgentSettings {
  /** Registry service name of conference servers. */
  service: string;
  /** Registry lease TTL: the server disappears this long after its last heartbeat. */
  ttlMs: number;
  /** Heartbeat (lease renewal) interval. */
  heartbeatMs: number;
  /** Full publish of the load even when it did not change (subscribers that missed a change catch up). */
  publishEveryMs: number;
}

export const ServerAgentDefaults: Readonly<ServerAgentSettings> = Object.freeze({
  service: 'conference-server', // the name the schedulers watch
  ttlMs: 3000, // gone from the registry three seconds after the process stops heartbeating
  heartbeatMs: 1000, // a third of the TTL: two heartbeats may be lost before the lease lapses
  publishEveryMs: 5000, // the periodic full publish; changes go out at once anyway
});

/** Short timers for tests. */
export const ServerAgentTestProfile: Readonly<ServerAgentSettings> = Object.freeze({
  ...ServerAgentDefaults,
  ttlMs: 600,
  heartbeatMs: 200,
  publishEveryMs: 1000,
});

export class ServerAgent {
  readonly settings: Readonly<ServerAgentSettings>;
  private readonly log: Logger;
  private lease: Lease | undefined;
  private httpServer: http.Server | undefined;
  private publishTimer: TimerHandle | undefined;
  private load = 0;
  private healthy = true;
  private url: string | undefined;

  constructor(
    private readonly components: { store: RegistryStore; clock: Clock; logger?: Logger },
    init: Partial<ServerAgentSettings> = {},
  ) {
    this.settings = Object.freeze({ ...ServerAgentDefaults, ...init });
    if (!(this.settings.heartbeatMs > 0 && this.settings.heartbeatMs < this.settings.ttlMs))
      throw new AgentError(
        'AGENT_ERR_CONFIG',
        `heartbeatMs must be in (0, ttlMs), got ${this.settings.heartbeatMs}`,
      );
    this.log = components.logger ?? silentLogger;
  }

  /** Starts the probe endpoint, then registers. Throws AGENT_ERR_CONFIG on bad options, AGENT_ERR_STATE if started. */
  async start(opts: AgentStartOptions): Promise<void> {
    if (this.lease) throw new AgentError('AGENT_ERR_STATE', 'agent already started');
    if (!opts.id || !opts.address) throw new AgentError('AGENT_ERR_CONFIG', 'id and address are required');
    if (!(Number.isFinite(opts.capacity) && opts.capacity >= 0))
      throw new AgentError('AGENT_ERR_CONFIG', 'capacity must be >= 0');
    let probe = 'sip';
    if (opts.probe !== 'sip') {
      await this.listenHttp(opts);
      probe = this.url!;
    }
    this.lease = new Lease(
      { store: this.components.store, clock: this.components.clock, logger: this.log },
      {
        record: {
          id: opts.id,
          service: this.settings.service,
          address: opts.address,
          region: opts.region,
          capacity: opts.capacity,
          load: this.load,
          ttlMs: this.settings.ttlMs,
          meta: { probe },
        },
        renewEveryMs: this.settings.heartbeatMs,
      },
    );
    this.lease.on((e) => {
      if (e.type === 'lost' || e.type === 'error')
        this.log.warn({ event: e.type, err: e.error, server: opts.id }, 'agent lease');
    });
    try {
      await this.lease.start();
    } catch (err) {
      await this.closeHttp();
      this.lease = undefined;
      throw err;
    }
    this.publishTimer = this.components.clock.setInterval(
      () => void this.publish(),
      this.settings.publishEveryMs,
    );
  }

  private async listenHttp(opts: AgentStartOptions): Promise<void> {
    const host = opts.probeHost ?? '127.0.0.1';
    const srv = http.createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/healthz') {
        res.writeHead(this.healthy ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: opts.id, ok: this.healthy, load: this.load }));
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(opts.probePort ?? 0, host, () => resolve());
    });
    this.httpServer = srv;
    const { port } = srv.address() as AddressInfo;
    this.url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/healthz`;
  }

  /** The probe URL (`http://host:port/healthz`), once started; undefined with `probe: 'sip'`. */
  get probeUrl(): string | undefined {
    return this.url;
  }

  get record(): ServiceRecord | undefined {
    return this.lease?.record;
  }

  /** Sets the current load and publishes it at once (no-op publish when unchanged). */
  async setLoad(n: number): Promise<void> {
    if (!(Number.isFinite(n) && n >= 0))
      throw new AgentError('AGENT_ERR_CONFIG', `load must be >= 0, got ${n}`);
    if (n === this.load) return;
    this.load = n;
    await this.publish();
  }

  /** Makes the probe answer 503 (a server that is up but not healthy), or 200 again. */
  setHealthy(ok: boolean): void {
    this.healthy = ok;
  }

  private async publish(): Promise<void> {
    if (!this.lease) return;
    try {
      await this.lease.update({ load: this.load });
    } catch (err) {
      this.log.warn({ err }, 'agent: could not publish load');
    }
  }

  /** Deregisters (the record is removed, subscribers see it at once) and closes the probe endpoint. */
  async stop(): Promise<void> {
    this.components.clock.clearInterval(this.publishTimer);
    this.publishTimer = undefined;
    const lease = this.lease;
    this.lease = undefined;
    await lease?.stop();
    await this.closeHttp();
  }

  private async closeHttp(): Promise<void> {
    const srv = this.httpServer;
    this.httpServer = undefined;
    if (!srv) return;
    srv.closeAllConnections();
    await new Promise<void>((r) => srv.close(() => r()));
  }
}
