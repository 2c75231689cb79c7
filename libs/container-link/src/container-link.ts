/**
 * The container's side of the registration protocol: dial the balancer, authenticate with the token, register
 * `{service, capacity, address | reverse}`, then push the full record every heartbeatMs and a delta at once on
 * every change (the registry push channel's frames). In reverse mode a second connection is dialed and, once
 * welcomed, handed to `onReverse` to be served as HTTP/2 (the balancer is the client). Every connection lost is
 * redialed after reconnectMs; the record is sent in full again first.
 */
import net from 'node:net';
import tls from 'node:tls';
import { Type } from '@sinclair/typebox';
import {
  ConfigError,
  parseConfig,
  silentLogger,
  type Clock,
  type Logger,
  type Startable,
  type TimerHandle,
} from '@switchyard/core';
import { encodeFrame, type PushMessage, type RecordBody } from '@switchyard/registry';
import { LinkError } from './errors.js';
import { decodeReply, encodeLinkFrame, splitFirstFrame, type LinkRole } from './link-protocol.js';

export const LINK_DEFAULTS = Object.freeze({
  heartbeatMs: 500, // four heartbeats inside the balancer's default 2 s deadline
  reconnectMs: 500, // redial twice a second while the balancer is away or refused us
  maxReplyBytes: 4096, // a welcome or reject is tiny; anything bigger is not a balancer
});

/** Short timers for tests. */
export const LINK_TEST_PROFILE = Object.freeze({ ...LINK_DEFAULTS, heartbeatMs: 100, reconnectMs: 50 });

export type LinkMode = 'direct' | 'reverse';

/** What a container registers. `address` (host:port of its HTTP server) is required in direct mode. */
export interface LinkRecord {
  id: string;
  service: string;
  capacity: number;
  address?: string;
  load?: number;
  state?: 'serving' | 'draining';
  meta?: Record<string, string>;
}

export interface ContainerLinkInit {
  host: string;
  port: number;
  token: string;
  mode: LinkMode;
  record: LinkRecord;
  heartbeatMs?: number;
  reconnectMs?: number;
  /**
   * Dial the balancer over TLS, trusting only `ca` (PEM); `servername` is the name its certificate must carry
   * (default: `host`). Absent = plain TCP.
   */
  tls?: { ca: string | Buffer; servername?: string };
}

export interface ContainerLinkComponents {
  clock: Clock;
  logger?: Logger;
  /** Reverse mode: serve HTTP/2 on this welcomed socket (e.g. `http2Server.emit('connection', socket)`). */
  onReverse?: (socket: net.Socket) => void;
}

export type LinkEvent =
  | { type: 'registered' }
  | { type: 'reverse-attached' }
  | { type: 'rejected'; error: LinkError }
  | { type: 'disconnected'; role: LinkRole };

const InitSchema = Type.Object({
  host: Type.String({ minLength: 1 }),
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
  token: Type.String({ minLength: 1 }),
  mode: Type.Union([Type.Literal('direct'), Type.Literal('reverse')]),
  heartbeatMs: Type.Integer({ exclusiveMinimum: 0, default: LINK_DEFAULTS.heartbeatMs }),
  reconnectMs: Type.Integer({ exclusiveMinimum: 0, default: LINK_DEFAULTS.reconnectMs }),
  record: Type.Object({
    id: Type.String({ minLength: 1 }),
    service: Type.String({ minLength: 1 }),
    capacity: Type.Number({ exclusiveMinimum: 0 }),
    address: Type.Optional(Type.String({ minLength: 1 })),
    load: Type.Optional(Type.Number({ minimum: 0 })),
    state: Type.Optional(Type.Union([Type.Literal('serving'), Type.Literal('draining')])),
    meta: Type.Optional(Type.Record(Type.String(), Type.String())),
  }),
});

/** The address a reverse-mode container registers (it has none the balancer could dial). */
export const REVERSE_ADDRESS = 'reverse';

export class ContainerLink implements Startable {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly config: Readonly<{
    host: string;
    port: number;
    token: string;
    mode: LinkMode;
    heartbeatMs: number;
    reconnectMs: number;
    tls: { ca: string | Buffer; servername: string | undefined } | undefined;
  }>;
  private body: RecordBody;
  private running = false;
  private reg: net.Socket | undefined;
  private registered = false;
  private rev: net.Socket | undefined;
  private heartbeat: TimerHandle | undefined;
  private readonly redials = new Set<TimerHandle>();
  private seq = 0;
  private readonly listeners = new Set<(e: LinkEvent) => void>();

  /** Throws a ConfigError naming the first bad field (direct mode without `record.address` is `record.address`). */
  constructor(
    private readonly components: ContainerLinkComponents,
    init: ContainerLinkInit,
  ) {
    this.clock = components.clock;
    this.logger = components.logger ?? silentLogger;
    const c = parseConfig(InitSchema, init, { convert: false });
    if (c.mode === 'direct' && !c.record.address)
      throw new ConfigError('record.address', 'is required in direct mode');
    this.config = Object.freeze({
      host: c.host,
      port: c.port,
      token: c.token,
      mode: c.mode,
      heartbeatMs: c.heartbeatMs,
      reconnectMs: c.reconnectMs,
      // SNI must not carry an IP address (RFC 6066); an IP host is still checked against the certificate's IP SANs
      tls: init.tls
        ? { ca: init.tls.ca, servername: init.tls.servername || (net.isIP(c.host) ? undefined : c.host) }
        : undefined,
    });
    this.body = {
      id: c.record.id,
      service: c.record.service,
      address: c.mode === 'direct' ? c.record.address! : REVERSE_ADDRESS,
      region: 'default',
      load: c.record.load ?? 0,
      capacity: c.record.capacity,
      state: c.record.state ?? 'serving',
      meta: { ...(c.record.meta ?? {}), mode: c.mode },
    };
  }

  get isRegistered(): boolean {
    return this.registered;
  }

  get record(): RecordBody {
    return { ...this.body, meta: { ...this.body.meta } };
  }

  on(listener: (e: LinkEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.heartbeat = this.clock.setInterval(() => this.sendHeartbeat(), this.config.heartbeatMs);
    this.dial('register');
  }

  /** Changes load, capacity, state or meta and sends the delta at once (or with the next registration). */
  update(patch: {
    load?: number;
    capacity?: number;
    state?: 'serving' | 'draining';
    meta?: Record<string, string>;
  }): void {
    const next: RecordBody = { ...this.body };
    if (patch.load !== undefined) next.load = patch.load;
    if (patch.capacity !== undefined) next.capacity = patch.capacity;
    if (patch.state !== undefined) next.state = patch.state;
    if (patch.meta !== undefined) next.meta = { ...patch.meta, mode: this.config.mode };
    const delta = { ...patch, ...(patch.meta ? { meta: next.meta } : {}) };
    this.body = next;
    this.send({ v: 1, k: 'delta', seq: this.seq++, patch: delta });
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.clock.clearInterval(this.heartbeat);
    for (const t of this.redials) this.clock.clearTimeout(t);
    this.redials.clear();
    const reg = this.reg;
    this.reg = undefined;
    this.rev?.destroy();
    this.rev = undefined;
    if (reg && this.registered) {
      reg.write(encodeFrame({ v: 1, k: 'bye', seq: this.seq++ }));
      await new Promise<void>((resolve) => {
        reg.once('close', () => resolve());
        reg.end();
      });
    } else reg?.destroy();
    this.registered = false;
  }

  private emit(e: LinkEvent): void {
    for (const l of this.listeners) l(e);
  }

  private sendHeartbeat(): void {
    this.send({ v: 1, k: 'hb', seq: this.seq++, record: this.body });
  }

  private send(msg: PushMessage): void {
    if (this.registered && this.reg) this.reg.write(encodeFrame(msg));
  }

  private later(role: LinkRole): void {
    if (!this.running) return;
    const t = this.clock.setTimeout(() => {
      this.redials.delete(t);
      if (role === 'register' || this.registered) this.dial(role);
    }, this.config.reconnectMs);
    this.redials.add(t);
  }

  private dial(role: LinkRole): void {
    if (!this.running) return;
    const t = this.config.tls;
    const sock: net.Socket = t
      ? tls.connect({
          host: this.config.host,
          port: this.config.port,
          ca: t.ca,
          ...(t.servername ? { servername: t.servername } : {}),
          minVersion: 'TLSv1.2',
          // the reverse connection carries HTTP/2: a server behind it accepts a TLS socket only with ALPN h2
          ...(role === 'reverse' ? { ALPNProtocols: ['h2'] } : {}),
        })
      : net.connect({ host: this.config.host, port: this.config.port });
    sock.setNoDelay(true);
    if (role === 'register') this.reg = sock;
    else this.rev = sock;
    let pending: Buffer = Buffer.alloc(0);
    let welcomed = false;
    let rest: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      if (welcomed) return; // the balancer sends nothing on a registration after its welcome
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      try {
        const first = splitFirstFrame(pending, LINK_DEFAULTS.maxReplyBytes);
        if (!first) return;
        rest = first.rest;
        const reply = decodeReply(first.body);
        if (reply.k === 'reject') {
          const error = new LinkError(
            'LNK_ERR_REJECTED',
            `balancer refused: ${reply.code}: ${reply.message}`,
            {
              details: { code: reply.code },
            },
          );
          this.logger.warn({ code: reply.code, role }, reply.message);
          this.emit({ type: 'rejected', error });
          sock.destroy();
          return;
        }
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'bad reply from balancer');
        sock.destroy();
        return;
      }
      welcomed = true;
      if (role === 'register') {
        this.registered = true;
        this.sendHeartbeat(); // covers any delta made while the registration was in flight
        this.emit({ type: 'registered' });
        if (this.config.mode === 'reverse') this.dial('reverse');
      } else {
        sock.off('data', onData);
        sock.pause();
        // the balancer's HTTP/2 preface may have arrived in the same read as its welcome
        if (rest.length) sock.unshift(rest);
        this.emit({ type: 'reverse-attached' });
        this.components.onReverse?.(sock);
      }
    };
    sock.on('data', onData);
    sock.once(t ? 'secureConnect' : 'connect', () => {
      sock.write(
        encodeLinkFrame({
          v: 1,
          k: 'hello',
          token: this.config.token,
          role,
          ...(role === 'reverse' ? { id: this.body.id } : {}),
        }),
      );
      // the registration itself: the full record, checked by the balancer before it welcomes us
      if (role === 'register') sock.write(encodeFrame({ v: 1, k: 'hb', seq: this.seq++, record: this.body }));
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (t && !welcomed && isTlsFailure(err)) {
        // the balancer's certificate is not trusted (or names another host): say so, it will not fix itself
        const error = new LinkError(
          'LNK_ERR_TLS',
          `TLS with the balancer ${this.config.host}:${this.config.port} failed: ${err.code} (check the CA file and server name)`,
          { details: { code: err.code } },
        );
        this.logger.warn({ code: err.code, role }, error.message);
        this.emit({ type: 'rejected', error });
      } else this.logger.debug({ err: err.message, role }, 'link connection error');
    });
    sock.once('close', () => {
      if (role === 'register') {
        if (this.reg !== sock) return;
        const was = this.registered;
        this.registered = false;
        this.reg = undefined;
        // the balancer drops a reverse container with its registration; start both again
        this.rev?.destroy();
        if (was) this.emit({ type: 'disconnected', role });
        this.later('register');
      } else {
        if (this.rev !== sock) return;
        this.rev = undefined;
        if (welcomed) this.emit({ type: 'disconnected', role });
        this.later('reverse');
      }
    });
  }
}

/** OpenSSL and Node certificate-check failures, by code: a refused certificate, never a network hiccup. */
function isTlsFailure(err: NodeJS.ErrnoException): boolean {
  const code = err.code ?? '';
  return (
    code.startsWith('ERR_SSL_') ||
    code.startsWith('ERR_TLS_') ||
    code.includes('CERT') ||
    code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' ||
    code === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'
  );
}
