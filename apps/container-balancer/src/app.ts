/**
 * One balancer process put together: the container table (pure core), the registration server, the upstreams
 * (one per container), the forwarder and the HTTP API. `main.ts` builds it from the command line; tests start
 * it in-process with a ManualClock or the system clock.
 */
import type net from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Clock, Logger, Startable } from '@switchyard/core';
import { buildApi } from './api/api.js';
import { BalancerMetrics } from './metrics.js';
import { ContainerTable, type ContainerView } from './queues/container-table.js';
import { RegistrationServer } from './registration/registration-server.js';
import { Forwarder } from './routing/forwarder.js';
import { LlhttpFront, loadLlhttp } from './routing/llhttp-front.js';
import type { BalancerConfig } from './settings.js';
import { DirectUpstream } from './upstream/direct-upstream.js';
import { ReverseUpstream } from './upstream/reverse-upstream.js';
import type { Upstream } from './upstream/upstream.js';

export interface BalancerAppComponents {
  clock: Clock;
  logger: Logger;
  metrics?: BalancerMetrics;
}

export class BalancerApp implements Startable {
  readonly table: ContainerTable;
  readonly metrics: BalancerMetrics;
  readonly registration: RegistrationServer;
  private readonly upstreams = new Map<string, Upstream>();
  private readonly forwarder: Forwarder;
  private api: FastifyInstance | undefined;
  /** `--proxy-front llhttp`: the listening front (fastify then answers through inject, never listens). */
  private front: LlhttpFront | undefined;
  /** `http://host:port` once listening. */
  url: string | undefined;

  constructor(
    private readonly components: BalancerAppComponents,
    private readonly config: Readonly<BalancerConfig>,
  ) {
    const { clock, logger } = components;
    if (config.proxyFront === 'llhttp') loadLlhttp(); // fails at once, naming the flag, on a Node without it
    this.metrics = components.metrics ?? new BalancerMetrics();
    this.table = new ContainerTable(
      { clock },
      {
        maxContainers: config.maxContainers,
        maxStickyKeys: config.maxStickyKeys,
        pickLogSize: config.pickLogSize,
      },
    );
    this.metrics.watch(this.table);
    this.registration = new RegistrationServer(
      { table: this.table, clock, logger },
      {
        host: config.registerHost,
        port: config.registerPort,
        token: config.registrationTokenValue,
        deadlineMs: config.deadlineMs,
        checkEveryMs: config.checkEveryMs,
        helloTimeoutMs: config.helloTimeoutMs,
        maxFrameBytes: config.maxFrameBytes,
        maxPendingConnections: config.maxPendingConnections,
        registrationsPerSecond: config.registrationsPerSecond,
        registrationBurst: config.registrationBurst,
        ...(config.tlsValue ? { tls: config.tlsValue } : {}),
      },
    );
    this.registration.on('registered', (v) => this.onRegistered(v));
    this.registration.on('reverse', (id, sock) => this.onReverse(id, sock));
    this.registration.on('dropped', (v, reason) => this.onDropped(v, reason));
    this.registration.on('rejected', (code) => this.metrics.rejected.inc({ code }));
    this.forwarder = new Forwarder(
      { table: this.table, upstreams: this.upstreams, metrics: this.metrics },
      { retries: config.retries, upstreamTimeoutMs: config.upstreamTimeoutMs },
    );
  }

  /** The registration endpoint's address once started. */
  registrationAddress(): { host: string; port: number } {
    return this.registration.address();
  }

  async start(): Promise<void> {
    await this.registration.start();
    this.api = await buildApi(
      {
        table: this.table,
        forwarder: this.forwarder,
        metrics: this.metrics,
        evict: (id) => this.registration.disconnect(id),
      },
      {
        apiToken: this.config.apiTokenValue,
        retryAfterS: this.config.retryAfterS,
        maxRetryBodyBytes: this.config.maxRetryBodyBytes,
      },
    );
    let a: net.AddressInfo;
    if (this.config.proxyFront === 'llhttp') {
      const api = this.api;
      await api.ready();
      this.front = new LlhttpFront(
        {
          forwarder: this.forwarder,
          metrics: this.metrics,
          clock: this.components.clock,
          fallback: async (r) => {
            const res = await api.inject({
              method: r.method as 'GET',
              url: r.url,
              headers: r.headers,
              remoteAddress: r.remoteAddress,
              ...(r.body !== undefined ? { payload: r.body } : {}),
            });
            return { status: res.statusCode, headers: res.headers, body: res.rawPayload };
          },
        },
        {
          retryAfterS: this.config.retryAfterS,
          maxRetryBodyBytes: this.config.maxRetryBodyBytes,
          maxHeaderSize: 16 * 1024,
          idleTimeoutMs: 5000,
          headersTimeoutMs: this.config.headersTimeoutMs,
          requestTimeoutMs: this.config.requestTimeoutMs,
          maxApiBodyBytes: 64 * 1024,
        },
      );
      a = await this.front.listen(this.config.host, this.config.port);
    } else {
      await this.api.listen({ host: this.config.host, port: this.config.port });
      a = this.api.server.address() as net.AddressInfo;
    }
    this.url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  /** Graceful: stop taking registrations and requests, let in-flight requests finish, then close containers. */
  async stop(): Promise<void> {
    await this.front?.close(); // waits for in-flight requests
    this.front = undefined;
    await this.api?.close(); // waits for in-flight requests
    this.api = undefined;
    await this.registration.stop();
    await Promise.all([...this.upstreams.values()].map((u) => u.destroy()));
    this.upstreams.clear();
  }

  private onRegistered(v: ContainerView): void {
    this.metrics.registrations.inc({ service: v.service });
    this.components.logger.info(
      { id: v.id, service: v.service, mode: v.mode, address: v.address },
      'container registered',
    );
    if (v.mode === 'direct' && v.address)
      this.upstreams.set(
        v.id,
        new DirectUpstream(v.address, {
          connections: this.config.poolConnections,
          connectTimeoutMs: this.config.connectTimeoutMs,
          // the container knows how long its answers take: its own declaration wins over the flag, both ways
          pipelining: v.pipelining ?? this.config.upstreamPipelining,
        }),
      );
  }

  private onReverse(id: string, sock: net.Socket): void {
    const up = new ReverseUpstream({ clock: this.components.clock }, sock);
    this.upstreams.set(id, up);
    this.table.attach(id);
    this.components.logger.info({ id }, 'reverse connection attached');
    // the HTTP/2 connection is the only way to this container: when it ends, the container leaves
    void up.ended.then(() => {
      if (this.upstreams.get(id) === up) this.registration.disconnect(id);
    });
  }

  private onDropped(v: ContainerView, reason: string): void {
    this.metrics.dropped.inc({ service: v.service });
    this.components.logger.warn({ id: v.id, service: v.service, reason }, 'container dropped from its queue');
    const up = this.upstreams.get(v.id);
    this.upstreams.delete(v.id);
    void up?.destroy();
  }
}
