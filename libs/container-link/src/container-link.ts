/**
 * The container's side of the registration protocol: dial the balancer, authenticate with the token, register
 * `{service, capacity, address | reverse}`, then push the full record every heartbeatMs and a delta at once on
 * every change (the registry push channel's frames). In reverse mode a second connection is dialed and, once
 * welcomed, handed to `onReverse` to be served as HTTP/2 (the balancer is the client). Every connection lost is
 * redialed after reconnectMs; the record is sent in full again first.
 *
 * The registration connection is the registry's {@link PushPublisher} with the hello/welcome exchange as its
 * handshake (dial, redial, heartbeat, delta, bye live there once); this class adds the token hello, TLS, the
 * reverse connection and the translation of refusals into LinkErrors.
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
import {
  PushPublisher,
  readHandshakeAnswer,
  type HandshakeAnswer,
  type PushHandshake,
  type PushPublisherEvent,
  type RecordBody,
} from '@switchyard/registry';
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
    reconnectMs: number;
    tls: { ca: string | Buffer; servername: string | undefined } | undefined;
  }>;
  /** The registration connection: the push channel with the hello/welcome handshake. */
  private readonly publisher: PushPublisher;
  private running = false;
  private rev: net.Socket | undefined;
  private readonly redials = new Set<TimerHandle>();
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
      reconnectMs: c.reconnectMs,
      // SNI must not carry an IP address (RFC 6066); an IP host is still checked against the certificate's IP SANs
      tls: init.tls
        ? { ca: init.tls.ca, servername: init.tls.servername || (net.isIP(c.host) ? undefined : c.host) }
        : undefined,
    });
    this.publisher = new PushPublisher(
      { clock: this.clock, logger: this.logger },
      {
        host: c.host,
        port: c.port,
        heartbeatMs: c.heartbeatMs,
        reconnectMs: c.reconnectMs,
        record: {
          id: c.record.id,
          service: c.record.service,
          address: c.mode === 'direct' ? c.record.address! : REVERSE_ADDRESS,
          region: 'default',
          load: c.record.load ?? 0,
          capacity: c.record.capacity,
          state: c.record.state ?? 'serving',
          meta: { ...(c.record.meta ?? {}), mode: c.mode },
        },
        handshake: this.handshake('register'),
        connect: () => this.connect('register'),
      },
    );
    this.publisher.on((e) => this.onPublisher(e));
  }

  get isRegistered(): boolean {
    return this.publisher.isConnected;
  }

  get record(): RecordBody {
    return this.publisher.record;
  }

  on(listener: (e: LinkEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.publisher.start();
  }

  /** Changes load, capacity, state or meta and sends the delta at once (or with the next registration). */
  update(patch: {
    load?: number;
    capacity?: number;
    state?: 'serving' | 'draining';
    meta?: Record<string, string>;
  }): void {
    this.publisher.update({
      ...(patch.load !== undefined ? { load: patch.load } : {}),
      ...(patch.capacity !== undefined ? { capacity: patch.capacity } : {}),
      ...(patch.state !== undefined ? { state: patch.state } : {}),
      // the mode is part of the registration: a new meta keeps it
      ...(patch.meta !== undefined ? { meta: { ...patch.meta, mode: this.config.mode } } : {}),
    });
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const t of this.redials) this.clock.clearTimeout(t);
    this.redials.clear();
    this.rev?.destroy();
    this.rev = undefined;
    await this.publisher.stop(); // `bye` if registered
  }

  private emit(e: LinkEvent): void {
    for (const l of this.listeners) l(e);
  }

  private onPublisher(e: PushPublisherEvent): void {
    switch (e.type) {
      case 'connected':
        this.emit({ type: 'registered' });
        if (this.config.mode === 'reverse') this.dialReverse();
        return;
      case 'disconnected':
        // the balancer drops a reverse container with its registration; start both again
        this.rev?.destroy();
        if (this.running) this.emit({ type: 'disconnected', role: 'register' });
        return;
      case 'refused':
        this.refused(e.error, 'register');
        return;
      case 'socket-error':
        this.socketError(e.error, e.accepted, 'register');
        return;
    }
  }

  /** The hello of `role` and the reading of the balancer's welcome or reject. */
  private handshake(role: LinkRole): PushHandshake {
    return {
      opening: () =>
        encodeLinkFrame({
          v: 1,
          k: 'hello',
          token: this.config.token,
          role,
          ...(role === 'reverse' ? { id: this.publisher.record.id } : {}),
        }),
      answer: (received): HandshakeAnswer | undefined => {
        const first = splitFirstFrame(received, LINK_DEFAULTS.maxReplyBytes);
        if (!first) return undefined;
        const reply = decodeReply(first.body);
        if (reply.k === 'welcome') return { accepted: true, rest: first.rest };
        return {
          accepted: false,
          error: new LinkError('LNK_ERR_REJECTED', `balancer refused: ${reply.code}: ${reply.message}`, {
            details: { code: reply.code },
          }),
        };
      },
    };
  }

  private refused(error: Error, role: LinkRole): void {
    if (error instanceof LinkError && error.code === 'LNK_ERR_REJECTED') {
      this.logger.warn({ code: error.details?.['code'], role }, error.message);
      this.emit({ type: 'rejected', error });
    } else this.logger.warn({ err: error.message, role }, 'bad reply from balancer');
  }

  private socketError(err: NodeJS.ErrnoException, welcomed: boolean, role: LinkRole): void {
    if (this.config.tls && !welcomed && isTlsFailure(err)) {
      // the balancer's certificate is not trusted (or names another host): say so, it will not fix itself
      const error = new LinkError(
        'LNK_ERR_TLS',
        `TLS with the balancer ${this.config.host}:${this.config.port} failed: ${err.code} (check the CA file and server name)`,
        { details: { code: err.code } },
      );
      this.logger.warn({ code: err.code, role }, error.message);
      this.emit({ type: 'rejected', error });
    } else this.logger.debug({ err: err.message, role }, 'link connection error');
  }

  /** Opens a connection to the balancer: plain TCP, or TLS checked against the CA given. */
  private connect(role: LinkRole): net.Socket {
    const t = this.config.tls;
    return t
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
  }

  /** Reverse mode: the second connection, welcomed, then served as HTTP/2 by `onReverse`. */
  private dialReverse(): void {
    if (!this.running) return;
    const sock = this.connect('reverse');
    sock.setNoDelay(true);
    this.rev = sock;
    const handshake = this.handshake('reverse');
    let welcomed = false;
    sock.once(this.config.tls ? 'secureConnect' : 'connect', () => sock.write(handshake.opening()));
    readHandshakeAnswer(sock, handshake, (answer) => {
      if (!answer.accepted) {
        this.refused(answer.error, 'reverse');
        sock.destroy();
        return;
      }
      welcomed = true;
      // the balancer's HTTP/2 preface may have arrived in the same read as its welcome
      if (answer.rest.length) sock.unshift(answer.rest);
      this.emit({ type: 'reverse-attached' });
      this.components.onReverse?.(sock);
    });
    sock.on('error', (err: NodeJS.ErrnoException) => this.socketError(err, welcomed, 'reverse'));
    sock.once('close', () => {
      if (this.rev !== sock) return;
      this.rev = undefined;
      if (welcomed) this.emit({ type: 'disconnected', role: 'reverse' });
      if (!this.running) return;
      const t = this.clock.setTimeout(() => {
        this.redials.delete(t);
        if (this.publisher.isConnected) this.dialReverse();
      }, this.config.reconnectMs);
      this.redials.add(t);
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
