/**
 * One mixer container: the RTP relay, its HTTP API and its link to the balancer. In direct mode the API listens
 * on --host/--port and that address is registered; in reverse mode nothing listens: the API is served as HTTP/2
 * on the connection the link dialed. Load (conferences) and its detail (participants, packets/s) are reported
 * at once on change and with every heartbeat.
 */
import type net from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Clock, Logger, Startable, TimerHandle } from '@switchyard/core';
import { ContainerLink } from '@switchyard/container-link';
import { buildMixerApi } from './api/api.js';
import { MixerMetrics } from './metrics.js';
import { RelayServer } from './relay/relay-server.js';
import type { MixerConfig } from './settings.js';
import { MIXER_DEFAULTS } from './defaults.js';

export class MixerApp implements Startable {
  readonly relay: RelayServer;
  readonly metrics = new MixerMetrics();
  private api: FastifyInstance | undefined;
  private link: ContainerLink | undefined;
  private stats: TimerHandle | undefined;
  private lastReceived = 0;
  private pps = 0;
  /** `http://host:port` of the API in direct mode. */
  url: string | undefined;

  constructor(
    private readonly components: { clock: Clock; logger: Logger },
    private readonly config: Readonly<MixerConfig>,
  ) {
    this.relay = new RelayServer(components, {
      bindHost: config.rtpHost,
      advertiseHost: config.rtpAdvertise || config.rtpHost,
      maxConferences: config.maxConferences,
      maxParticipants: config.maxParticipants,
      participantIdleMs: config.participantIdleMs,
      minPacketBytes: MIXER_DEFAULTS.minPacketBytes,
      maxPacketBytes: MIXER_DEFAULTS.maxPacketBytes,
    });
    this.metrics.watch(this.relay);
  }

  get registered(): boolean {
    return this.link?.isRegistered ?? false;
  }

  async start(): Promise<void> {
    const { clock, logger } = this.components;
    const c = this.config;
    await this.relay.start();
    this.api = await buildMixerApi(
      { relay: this.relay, metrics: this.metrics, id: c.id },
      { http2: c.mode === 'reverse' },
    );
    let address: string | undefined;
    if (c.mode === 'direct') {
      await this.api.listen({ host: c.host, port: c.port });
      const a = this.api.server.address() as net.AddressInfo;
      const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      this.url = `http://${host}:${a.port}`;
      address = c.advertise || `${host}:${a.port}`;
    } else await this.api.ready();
    const [bHost, bPort] = [
      c.balancer.slice(0, c.balancer.lastIndexOf(':')),
      Number(c.balancer.slice(c.balancer.lastIndexOf(':') + 1)),
    ];
    const api = this.api;
    this.link = new ContainerLink(
      {
        clock,
        logger,
        onReverse: (sock) => (api.server as unknown as net.Server).emit('connection', sock),
      },
      {
        host: bHost,
        port: bPort,
        token: c.registrationTokenValue,
        mode: c.mode,
        heartbeatMs: c.heartbeatMs,
        reconnectMs: c.reconnectMs,
        ...(c.balancerCaValue
          ? {
              tls: {
                ca: c.balancerCaValue,
                ...(c.balancerServerName ? { servername: c.balancerServerName } : {}),
              },
            }
          : {}),
        record: {
          id: c.id,
          service: 'mixer',
          capacity: c.maxConferences,
          ...(address ? { address } : {}),
          load: 0,
          meta: this.meta(),
        },
      },
    );
    this.link.on((e) => {
      if (e.type === 'rejected') logger.error({ err: e.error.message }, 'the balancer refused this mixer');
      else logger.info({ event: e.type }, 'balancer link');
    });
    this.relay.onChange(() => this.report());
    this.stats = clock.setInterval(() => this.measure(), c.statsEveryMs);
    await this.link.start();
  }

  /** Graceful: tell the balancer we drain and leave, then stop serving and close the RTP sockets. */
  async stop(): Promise<void> {
    this.components.clock.clearInterval(this.stats);
    if (this.link) {
      this.link.update({ state: 'draining' });
      await this.link.stop();
    }
    await this.api?.close();
    await this.relay.stop();
  }

  private meta(): Record<string, string> {
    return {
      conferences: String(this.relay.conferenceCount),
      participants: String(this.relay.participantCount),
      pps: String(this.pps),
    };
  }

  private report(): void {
    this.link?.update({ load: this.relay.conferenceCount, meta: this.meta() });
  }

  private measure(): void {
    const total = this.relay.receivedTotal;
    const pps = Math.round(((total - this.lastReceived) * 1000) / this.config.statsEveryMs);
    this.lastReceived = total;
    if (pps !== this.pps) {
      this.pps = pps;
      this.report();
    }
  }
}
