/**
 * The direct push channel over TCP: a {@link PushPublisher} (e.g. a container) dials one {@link PushSubscriber}
 * (e.g. the balancer), sends its full record at once and every heartbeatMs, and a delta at once on every change.
 * The subscriber reports `failed` when a publisher is silent past deadlineMs or drops without a goodbye.
 * Garbage on a connection is a typed, counted error that closes that connection only.
 */
import net from 'node:net';
import tls from 'node:tls';
import { Type } from '@sinclair/typebox';
import {
  parseConfig,
  RateLimitedLog,
  silentLogger,
  type Clock,
  type Logger,
  type Startable,
  type TimerHandle,
} from '@switchyard/core';
import { ErrorCounter, RegistryError } from './errors.js';
import {
  FrameDecoder,
  PushPeer,
  decodeMessage,
  encodeFrame,
  type PushEvent,
  type PushMessage,
} from './push-protocol.js';
import type { RecordPatch, ServiceRecord } from './types.js';
import {
  applyPatch,
  LimitsSchema,
  normalizeInput,
  positiveInt,
  type RecordBody,
  type RecordLimits,
} from './validate.js';

export const PUSH_DEFAULTS = Object.freeze({
  heartbeatMs: 1000, // full record once a second: cheap, and bounds how stale a lost delta can leave a subscriber
  deadlineMs: 3500, // three missed heartbeats plus slack before a publisher counts as failed
  maxFrameBytes: 64 * 1024, // far above a record with maximal meta; anything larger is garbage
  reconnectMs: 500, // a publisher redials twice a second while its subscriber is away
});

/** Short timers for tests. */
export const PUSH_TEST_PROFILE = Object.freeze({
  ...PUSH_DEFAULTS,
  heartbeatMs: 100,
  deadlineMs: 350,
  reconnectMs: 50,
});

const SubscriberConfigSchema = Type.Object({
  host: Type.String({ default: '127.0.0.1' }), // loopback unless asked: the channel has no authentication
  port: Type.Integer({ minimum: 0, maximum: 65535, default: 0 }), // 0 = any free port
  deadlineMs: positiveInt(PUSH_DEFAULTS.deadlineMs),
  maxFrameBytes: positiveInt(PUSH_DEFAULTS.maxFrameBytes),
  limits: LimitsSchema,
});

const PublisherConfigSchema = Type.Object({
  host: Type.String(),
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
  heartbeatMs: positiveInt(PUSH_DEFAULTS.heartbeatMs),
  reconnectMs: positiveInt(PUSH_DEFAULTS.reconnectMs),
  limits: LimitsSchema,
  // the record is checked by normalizeInput, which throws the record's own typed errors
});

/** A subscriber-side event: the peer's state change, or bad input on its connection. */
export type PushSubscriberEvent =
  (PushEvent & { peer: string }) | { type: 'error'; peer: string; error: RegistryError };

export interface PushSubscriberInit {
  host?: string;
  /** 0 = any free port (read it from address()). */
  port?: number;
  deadlineMs?: number;
  maxFrameBytes?: number;
  limits?: Partial<RecordLimits>;
}

export class PushSubscriber implements Startable {
  readonly errors = new ErrorCounter();
  private readonly clock: Clock;
  private readonly log: RateLimitedLog;
  private readonly config: Readonly<{
    host: string;
    port: number;
    deadlineMs: number;
    maxFrameBytes: number;
  }>;
  private readonly limits: Readonly<RecordLimits>;
  private server: net.Server | undefined;
  private ticker: TimerHandle | undefined;
  private readonly peers = new Map<net.Socket, { name: string; peer: PushPeer }>();
  private readonly listeners = new Set<(e: PushSubscriberEvent) => void>();
  private seq = 0;

  /** Throws a `ConfigError` naming the first bad field of `init` (e.g. `port`, `deadlineMs`). */
  constructor(components: { clock: Clock; logger?: Logger }, init: PushSubscriberInit = {}) {
    this.clock = components.clock;
    this.log = new RateLimitedLog(components.logger ?? silentLogger, this.clock);
    const { host, port, deadlineMs, maxFrameBytes, limits } = parseConfig(SubscriberConfigSchema, init, {
      convert: false,
    });
    this.config = Object.freeze({ host, port, deadlineMs, maxFrameBytes });
    this.limits = limits;
  }

  on(listener: (e: PushSubscriberEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The records of every live publisher. */
  records(): ServiceRecord[] {
    return [...this.peers.values()].flatMap((p) =>
      p.peer.current && !p.peer.finished ? [p.peer.current] : [],
    );
  }

  address(): { host: string; port: number } {
    const a = this.server?.address();
    if (!a || typeof a === 'string')
      throw new RegistryError('REG_ERR_STOPPED', 'push subscriber is not listening');
    return { host: a.address, port: a.port };
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((sock) => this.accept(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.port, this.config.host, () => resolve());
    });
    this.server = server;
    // a quarter of the deadline: a silent publisher is reported at most deadline * 1.25 after its last message
    this.ticker = this.clock.setInterval(
      () => this.tick(),
      Math.max(1, Math.floor(this.config.deadlineMs / 4)),
    );
  }

  async stop(): Promise<void> {
    this.clock.clearInterval(this.ticker);
    this.ticker = undefined;
    const server = this.server;
    this.server = undefined;
    for (const sock of this.peers.keys()) sock.destroy();
    this.peers.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(sock: net.Socket): void {
    const name = `${sock.remoteAddress}:${sock.remotePort}#${++this.seq}`;
    const peer = new PushPeer(this.config.deadlineMs, this.clock.now(), this.limits);
    const decoder = new FrameDecoder(this.config.maxFrameBytes);
    this.peers.set(sock, { name, peer });
    sock.setNoDelay(true);
    sock.on('data', (chunk: Buffer) => {
      try {
        for (const body of decoder.push(chunk)) {
          for (const e of peer.onMessage(decodeMessage(body, this.limits), this.clock.now()))
            this.emit({ ...e, peer: name });
          if (peer.finished) sock.end();
        }
      } catch (err) {
        const error =
          err instanceof RegistryError
            ? err
            : new RegistryError('REG_ERR_BAD_MESSAGE', String(err), { cause: err });
        this.errors.count(error.code);
        this.log.warn(
          { peer: name, code: error.code, err: error.message },
          'bad input on push channel; closing the connection',
        );
        this.emit({ type: 'error', peer: name, error });
        // a byte stream cannot resynchronise after garbage: drop this connection, nothing else
        for (const e of peer.onClose(`closed after bad input (${error.code})`))
          this.emit({ ...e, peer: name });
        sock.destroy();
      }
    });
    sock.on('error', () => undefined); // the close handler reports it
    sock.on('close', () => {
      this.peers.delete(sock);
      for (const e of peer.onClose('connection closed without goodbye')) this.emit({ ...e, peer: name });
    });
  }

  private tick(): void {
    const now = this.clock.now();
    for (const [sock, { name, peer }] of this.peers) {
      const events = peer.onTick(now);
      for (const e of events) this.emit({ ...e, peer: name });
      if (events.length) sock.destroy();
    }
  }

  private emit(e: PushSubscriberEvent): void {
    for (const l of this.listeners) l(e);
  }
}

/**
 * The subscriber's answer to a handshake's opening: accepted (with the bytes it sent after its answer, which
 * belong to whatever follows), or refused with the error to report.
 */
export type HandshakeAnswer = { accepted: true; rest: Buffer } | { accepted: false; error: Error };

/**
 * An exchange that opens every connection before the push frames flow, e.g. a container's token `hello` and the
 * balancer's `welcome` or `reject` (`@switchyard/container-link`). The channel itself has no authentication; the
 * caller brings it here.
 */
export interface PushHandshake {
  /** Written first on every new connection (the full record follows at once, in the same flight). */
  opening(): Buffer;
  /**
   * Reads the subscriber's answer from all it has sent on this connection so far: undefined while incomplete.
   * Throwing is a refusal with that error.
   */
  answer(received: Buffer): HandshakeAnswer | undefined;
}

/**
 * Reads a handshake's answer on `sock`: calls `done` once with the answer, then stops reading and leaves the
 * socket paused (an accepted answer carries the bytes after it in `rest`, for a protocol that takes the socket
 * over). Used by {@link PushPublisher} and by callers that open their own connections with the same exchange
 * (the container link's reverse HTTP/2 connection).
 */
export function readHandshakeAnswer(
  sock: net.Socket,
  handshake: PushHandshake,
  done: (answer: HandshakeAnswer) => void,
): void {
  let received: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    received = received.length ? Buffer.concat([received, chunk]) : chunk;
    let answer: HandshakeAnswer | undefined;
    try {
      answer = handshake.answer(received);
    } catch (err) {
      answer = { accepted: false, error: err instanceof Error ? err : new Error(String(err)) };
    }
    if (!answer) return;
    sock.off('data', onData);
    sock.pause();
    done(answer);
  };
  sock.on('data', onData);
}

/** What a publisher reports: its connection's state, a refused handshake, or a socket error (with whether the
 * handshake had been accepted on that connection, e.g. to tell a refused TLS certificate from a later reset). */
export type PushPublisherEvent =
  | { type: 'connected' }
  | { type: 'disconnected' }
  | { type: 'refused'; error: Error }
  | { type: 'socket-error'; error: NodeJS.ErrnoException; accepted: boolean };

export interface PushPublisherInit {
  host: string;
  port: number;
  /** The record to publish (no TTL: the subscriber's deadline plays that part). */
  record: Omit<RecordBody, 'region' | 'load' | 'capacity' | 'state' | 'meta'> & Partial<RecordBody>;
  heartbeatMs?: number;
  reconnectMs?: number;
  limits?: Partial<RecordLimits>;
  /**
   * An opening exchange on every connection: its opening and the full record are sent at once, and the
   * publisher counts as connected (heartbeats, deltas, `bye`) only once the answer accepts it. A refusal is
   * reported (`refused`), the connection closed and redialed after reconnectMs. Absent: connected on connect.
   */
  handshake?: PushHandshake;
  /** Opens each connection (e.g. `tls.connect`; a TLS socket counts as connected on `secureConnect`). */
  connect?: (host: string, port: number) => net.Socket;
}

export class PushPublisher implements Startable {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly config: Readonly<{ host: string; port: number; heartbeatMs: number; reconnectMs: number }>;
  private readonly limits: Readonly<RecordLimits>;
  private readonly handshake: PushHandshake | undefined;
  private readonly connect: (host: string, port: number) => net.Socket;
  private body: RecordBody;
  private sock: net.Socket | undefined;
  private connected = false;
  private running = false;
  private heartbeat: TimerHandle | undefined;
  private redial: TimerHandle | undefined;
  private seq = 0;
  private readonly listeners = new Set<(e: PushPublisherEvent) => void>();

  /**
   * Throws a `ConfigError` naming the first bad field of `init` (e.g. `port`, `heartbeatMs`), and
   * REG_ERR_INVALID_RECORD / REG_ERR_META_TOO_LARGE for a bad record.
   */
  constructor(components: { clock: Clock; logger?: Logger }, init: PushPublisherInit) {
    this.clock = components.clock;
    this.logger = components.logger ?? silentLogger;
    const { handshake, connect, ...plain } = init;
    const { host, port, heartbeatMs, reconnectMs, limits } = parseConfig(PublisherConfigSchema, plain, {
      convert: false,
    });
    this.config = Object.freeze({ host, port, heartbeatMs, reconnectMs });
    this.limits = limits;
    this.handshake = handshake;
    this.connect = connect ?? ((h, p) => net.connect({ host: h, port: p }));
    this.body = normalizeInput({ ...init.record, ttlMs: 1 }, this.limits).body;
  }

  get record(): RecordBody {
    return { ...this.body, meta: { ...this.body.meta } };
  }

  /** Connected, and accepted by the handshake if there is one. */
  get isConnected(): boolean {
    return this.connected;
  }

  on(listener: (e: PushPublisherEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.heartbeat = this.clock.setInterval(() => this.sendHeartbeat(), this.config.heartbeatMs);
    await this.dial();
  }

  /** Applies the change and sends it at once (if connected; otherwise the heartbeat after reconnecting carries it). */
  update(patch: RecordPatch): RecordBody {
    this.body = applyPatch(this.body, patch, this.limits);
    this.send({ v: 1, k: 'delta', seq: this.seq++, patch });
    return this.record;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.clock.clearInterval(this.heartbeat);
    this.clock.clearTimeout(this.redial);
    const sock = this.sock;
    this.sock = undefined;
    if (sock && this.connected) {
      sock.write(encodeFrame({ v: 1, k: 'bye', seq: this.seq++ }));
      await new Promise<void>((resolve) => {
        sock.once('close', () => resolve());
        sock.end();
      });
    } else sock?.destroy();
    this.connected = false;
  }

  private emit(e: PushPublisherEvent): void {
    for (const l of this.listeners) l(e);
  }

  private sendHeartbeat(): void {
    this.send({ v: 1, k: 'hb', seq: this.seq++, record: this.body });
  }

  private accepted(): void {
    this.connected = true;
    this.emit({ type: 'connected' });
  }

  /** Resolves once the connection is open (handshake not awaited) or has closed. */
  private dial(): Promise<void> {
    return new Promise((resolve) => {
      const sock = this.connect(this.config.host, this.config.port);
      this.sock = sock;
      sock.setNoDelay(true);
      const handshake = this.handshake;
      sock.once(sock instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () => {
        if (handshake) sock.write(handshake.opening());
        // full state first, at once (with a handshake: the subscriber checks it before it answers)
        sock.write(encodeFrame({ v: 1, k: 'hb', seq: this.seq++, record: this.body }));
        if (!handshake) this.accepted();
        resolve();
      });
      if (handshake)
        readHandshakeAnswer(sock, handshake, (answer) => {
          if (this.sock !== sock) return;
          if (!answer.accepted) {
            this.emit({ type: 'refused', error: answer.error });
            sock.destroy();
            return;
          }
          sock.resume(); // the subscriber sends nothing more on the channel; read and drop it
          this.accepted();
          this.sendHeartbeat(); // covers any delta made while the answer was on its way
        });
      sock.on('data', () => undefined); // the subscriber sends nothing (after any answer); ignore, never buffer
      sock.on('error', (error: NodeJS.ErrnoException) => {
        this.logger.debug({ err: error.message }, 'push channel error');
        this.emit({ type: 'socket-error', error, accepted: this.sock === sock && this.connected });
      });
      sock.once('close', () => {
        // a connection replaced since (refused, redialed) says nothing about the current one
        if (this.sock !== sock && this.sock !== undefined) return resolve();
        const was = this.connected;
        this.connected = false;
        if (was) this.emit({ type: 'disconnected' });
        if (this.sock === sock && this.running)
          this.redial = this.clock.setTimeout(() => void this.dial(), this.config.reconnectMs);
        resolve();
      });
    });
  }

  private send(msg: PushMessage): void {
    if (this.connected && this.sock) this.sock.write(encodeFrame(msg));
  }
}
