/**
 * The registration endpoint: containers dial in over TCP. Each connection opens with a hello (token, role); a
 * `register` connection then carries the registry push channel (first `hb` = the registration, then `hb` every
 * heartbeat and `delta` on change, `bye` to leave); a `reverse` connection is handed over for HTTP/2. The
 * container is dropped from its queue the moment its registration connection closes, and when it is silent past
 * the deadline. Bad input is answered with a `reject` frame naming a BAL_ERR_… code, counted, logged at a
 * bounded rate, and closes that connection only.
 */
import net from 'node:net';
import tls from 'node:tls';
import { EventEmitter } from 'node:events';
import { RateLimitedLog, type Clock, type Logger, type Startable, type TimerHandle } from '@switchyard/core';
import {
  decodeHello,
  encodeLinkFrame,
  ID_PATTERN,
  LinkError,
  splitFirstFrame,
  type Hello,
} from '@switchyard/container-link';
import {
  DEFAULT_LIMITS,
  FrameDecoder,
  PushPeer,
  RegistryError,
  decodeMessage,
  type PushEvent,
  type ServiceRecord,
} from '@switchyard/registry';
import type { BalancerErrorCode } from '../errors.js';
import type { ContainerTable, ContainerView, Registration } from '../queues/container-table.js';
import { TokenBucket } from './token-bucket.js';
import { tokenMatches } from './token.js';

export interface RegistrationServerInit {
  host: string;
  port: number;
  token: string;
  deadlineMs: number;
  checkEveryMs: number;
  helloTimeoutMs: number;
  maxFrameBytes: number;
  maxPendingConnections: number;
  registrationsPerSecond: number;
  registrationBurst: number;
  /** Serve TLS on the registration port with this certificate chain and key (PEM); plain TCP when absent. */
  tls?: { cert: string; key: string };
}

export interface RegistrationServerComponents {
  table: ContainerTable;
  clock: Clock;
  logger: Logger;
}

export interface RegistrationEvents {
  registered: [view: ContainerView];
  /** A reverse container's HTTP/2 socket, welcomed; the listener attaches it (or destroys it). */
  reverse: [id: string, socket: net.Socket];
  dropped: [view: ContainerView, reason: string];
  rejected: [code: BalancerErrorCode];
}

const SERVICE_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
const HOSTPORT = /^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9a-fA-F:.]+\]:\d{1,5}$/;
/** `meta.pipelining`: a decimal integer 1 to 128 (the range of `--upstream-pipelining`). */
const PIPELINING = /^(?:[1-9]|[1-9]\d|1[01]\d|12[0-8])$/;

/** Translates a registration record into the core's terms, or names what is wrong with it. */
export function toRegistration(
  r: ServiceRecord,
): { ok: true; reg: Registration } | { ok: false; message: string } {
  if (!ID_PATTERN.test(r.id) || r.id.length > 128)
    return { ok: false, message: 'id must match [A-Za-z0-9._:-]+' };
  if (!SERVICE_PATTERN.test(r.service))
    return { ok: false, message: 'service must match [a-z0-9][a-z0-9-]{0,62}' };
  if (!(r.capacity > 0)) return { ok: false, message: 'capacity must be > 0' };
  if (r.state === 'down') return { ok: false, message: 'state down cannot register' };
  const mode = r.meta['mode'] ?? 'direct';
  if (mode !== 'direct' && mode !== 'reverse')
    return { ok: false, message: 'meta.mode must be direct or reverse' };
  const declared = r.meta['pipelining'];
  if (declared !== undefined && !PIPELINING.test(declared))
    return { ok: false, message: 'meta.pipelining must be an integer from 1 to 128' };
  if (mode === 'direct') {
    const port = Number(r.address.slice(r.address.lastIndexOf(':') + 1));
    if (!HOSTPORT.test(r.address) || !(port >= 1 && port <= 65535))
      return { ok: false, message: 'a direct container must advertise address host:port' };
  }
  return {
    ok: true,
    reg: {
      id: r.id,
      service: r.service,
      mode,
      address: mode === 'direct' ? r.address : null,
      capacity: r.capacity,
      load: r.load,
      state: r.state,
      pipelining: declared === undefined ? null : Number(declared),
    },
  };
}

interface Conn {
  sock: net.Socket;
  name: string;
  /** Set once registered. */
  id?: string;
  peer?: PushPeer;
}

export class RegistrationServer extends EventEmitter<RegistrationEvents> implements Startable {
  private server: net.Server | tls.Server | undefined;
  /** TLS handshakes in progress by peer `address:port`, with their deadline on the clock. */
  private readonly handshakes = new Map<string, { timer: TimerHandle; expired: boolean }>();
  private ticker: TimerHandle | undefined;
  private pending = 0;
  private seq = 0;
  private readonly log: RateLimitedLog;
  private readonly bucket: TokenBucket;
  /** Registered connections by container id. */
  private readonly byId = new Map<string, Conn>();
  /** Reject counts by code (also in /metrics). */
  readonly rejectedCounts = new Map<BalancerErrorCode, number>();

  constructor(
    private readonly components: RegistrationServerComponents,
    private readonly init: Readonly<RegistrationServerInit>,
  ) {
    super();
    this.log = new RateLimitedLog(components.logger, components.clock);
    this.bucket = new TokenBucket(
      init.registrationsPerSecond,
      init.registrationBurst,
      components.clock.now(),
    );
  }

  /** Connections accepted that have not registered (or been refused) yet. */
  get pendingCount(): number {
    return this.pending;
  }

  /** TLS connections whose handshake has neither completed nor failed yet (0 without TLS). */
  get handshakingCount(): number {
    return this.handshakes.size;
  }

  address(): { host: string; port: number } {
    const a = this.server?.address();
    if (!a || typeof a === 'string') throw new Error('registration server is not listening');
    return { host: a.address, port: a.port };
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = this.init.tls ? this.tlsServer(this.init.tls) : net.createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.init.port, this.init.host, () => resolve());
    });
    this.server = server;
    this.ticker = this.components.clock.setInterval(() => this.tick(), this.init.checkEveryMs);
  }

  /**
   * A TLS registration port: only connections that complete the handshake reach `accept`. A client that speaks
   * plain TCP (or refuses our certificate) fails the handshake; that is refused and counted like any bad input.
   * The handshake's deadline runs on the injected clock like every other timeout of the balancer (Node's own
   * `handshakeTimeout` reads the real clock, so it is set beyond reach): armed when the TCP connection opens,
   * cleared when the handshake completes or the connection closes. Connections are matched by their peer's
   * address and port (unique among the open connections of one listening socket).
   */
  private tlsServer(cred: { cert: string; key: string }): tls.Server {
    const server = tls.createServer({
      cert: cred.cert,
      key: cred.key,
      minVersion: 'TLSv1.2',
      // a reverse container's HTTP/2 connection asks for h2; a registration asks for nothing
      ALPNProtocols: ['h2'],
      handshakeTimeout: 2 ** 31 - 1,
    });
    const { clock } = this.components;
    const handshakes = this.handshakes;
    const peerOf = (s: net.Socket) => `${s.remoteAddress}:${s.remotePort}`;
    const settle = (peer: string) => {
      const h = handshakes.get(peer);
      if (h) clock.clearTimeout(h.timer);
      handshakes.delete(peer);
      return h;
    };
    server.on('connection', (raw: net.Socket) => {
      const peer = peerOf(raw);
      const h = {
        // closing the connection makes the TLS server report it ('tlsClientError' below counts it once)
        timer: clock.setTimeout(() => {
          h.expired = true;
          raw.destroy();
        }, this.init.helloTimeoutMs),
        expired: false,
      };
      handshakes.set(peer, h);
      raw.once('close', () => {
        if (handshakes.get(peer) === h && !h.expired) settle(peer);
      });
    });
    server.on('secureConnection', (sock) => {
      settle(peerOf(sock));
      this.accept(sock);
    });
    server.on('tlsClientError', (err: NodeJS.ErrnoException, sock) => {
      const peer = peerOf(sock);
      const expired = settle(peer)?.expired === true;
      this.rejectedCounts.set('BAL_ERR_TLS', (this.rejectedCounts.get('BAL_ERR_TLS') ?? 0) + 1);
      this.emit('rejected', 'BAL_ERR_TLS');
      // by the error's code (OpenSSL's reason, e.g. ERR_SSL_WRONG_VERSION_NUMBER for plain TCP), never its text
      const reason = expired ? `no TLS handshake within ${this.init.helloTimeoutMs} ms` : (err.code ?? 'tls');
      this.log.warn({ peer, code: 'BAL_ERR_TLS', reason }, 'registration refused: TLS handshake failed');
      sock.destroy();
    });
    return server;
  }

  /** Stops accepting; closes every container connection (their containers are dropped). */
  async stop(): Promise<void> {
    this.components.clock.clearInterval(this.ticker);
    const server = this.server;
    this.server = undefined;
    for (const c of [...this.byId.values()]) c.sock.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Closes a container's registration connection (evict); it is dropped as if it had failed. */
  disconnect(id: string): boolean {
    const c = this.byId.get(id);
    if (!c) return false;
    c.sock.destroy();
    return true;
  }

  private reject(c: Conn, code: BalancerErrorCode, message: string): void {
    this.rejectedCounts.set(code, (this.rejectedCounts.get(code) ?? 0) + 1);
    this.emit('rejected', code);
    this.log.warn({ peer: c.name, code, reason: message }, 'registration refused');
    if (!c.sock.destroyed) {
      c.sock.end(encodeLinkFrame({ v: 1, k: 'reject', code, message }));
      // a peer that never reads must not hold the socket open
      c.sock.destroySoon();
    }
  }

  private accept(sock: net.Socket): void {
    const c: Conn = { sock, name: `${sock.remoteAddress}:${sock.remotePort}#${++this.seq}` };
    sock.setNoDelay(true);
    sock.on('error', () => undefined); // 'close' follows and does the work
    if (this.pending >= this.init.maxPendingConnections) {
      this.reject(c, 'BAL_ERR_REGISTRATION_LIMIT', 'too many connections waiting to register');
      sock.destroy();
      return;
    }
    this.pending++;
    let opened = false; // hello accepted
    let settled = false; // registered, handed over or refused
    const settle = () => {
      if (!settled) {
        settled = true;
        this.pending--;
        this.components.clock.clearTimeout(timer);
      }
    };
    const timer = this.components.clock.setTimeout(() => {
      if (settled) return;
      settle();
      this.reject(c, 'BAL_ERR_HELLO_TIMEOUT', `no registration within ${this.init.helloTimeoutMs} ms`);
      sock.destroy();
    }, this.init.helloTimeoutMs);
    let head: Buffer = Buffer.alloc(0);
    let decoder: FrameDecoder | undefined;
    const fail = (code: BalancerErrorCode, message: string) => {
      settle();
      this.reject(c, code, message);
    };

    const onData = (chunk: Buffer) => {
      if (settled && !c.id) return; // refused or handed over: nothing more is read
      if (!opened) {
        head = head.length ? Buffer.concat([head, chunk]) : chunk;
        let hello: Hello;
        let rest: Buffer;
        try {
          const first = splitFirstFrame(head, this.init.maxFrameBytes);
          if (!first) return;
          hello = decodeHello(first.body);
          rest = first.rest;
        } catch (err) {
          if (err instanceof LinkError && err.code === 'LNK_ERR_FRAME_SIZE')
            return fail('BAL_ERR_FRAME_TOO_LARGE', err.message);
          return fail('BAL_ERR_BAD_REGISTRATION', (err as Error).message);
        }
        if (!tokenMatches(this.init.token, hello.token)) return fail('BAL_ERR_UNAUTHORIZED', 'bad token');
        if (!this.bucket.take(this.components.clock.now()))
          return fail('BAL_ERR_REGISTRATION_LIMIT', 'too many registrations per second; retry later');
        opened = true;
        if (hello.role === 'reverse') {
          const target = this.components.table.get(hello.id!);
          if (!target || target.mode !== 'reverse' || target.ready)
            return fail(
              'BAL_ERR_BAD_REGISTRATION',
              `no reverse container ${hello.id} waiting for its connection`,
            );
          settle();
          sock.off('data', onData);
          sock.pause();
          if (rest.length) sock.unshift(rest);
          // hand the socket to HTTP/2 only once the welcome is written: node's http2 must not take over a TLS
          // stream with a write still in progress (a native assertion aborts the process)
          sock.write(encodeLinkFrame({ v: 1, k: 'welcome' }), (err) => {
            if (err || sock.destroyed) sock.destroy();
            else this.emit('reverse', hello.id!, sock);
          });
          return;
        }
        decoder = new FrameDecoder(this.init.maxFrameBytes);
        c.peer = new PushPeer(this.init.deadlineMs, this.components.clock.now(), DEFAULT_LIMITS);
        if (rest.length === 0) return;
        chunk = rest;
      }
      try {
        for (const body of decoder!.push(chunk)) {
          const events = c.peer!.onMessage(decodeMessage(body, DEFAULT_LIMITS), this.components.clock.now());
          for (const e of events) this.onPushEvent(c, e, { fail, settle });
          if (c.peer!.finished || sock.destroyed) {
            sock.end();
            return;
          }
        }
      } catch (err) {
        const code: BalancerErrorCode =
          err instanceof RegistryError && err.code === 'REG_ERR_BAD_FRAME'
            ? 'BAL_ERR_FRAME_TOO_LARGE'
            : 'BAL_ERR_BAD_REGISTRATION';
        if (c.id) {
          // a registered container that sends garbage is closed and dropped like a failed one
          this.rejectedCounts.set(code, (this.rejectedCounts.get(code) ?? 0) + 1);
          this.emit('rejected', code);
          this.log.warn({ peer: c.name, id: c.id, code, err: (err as Error).message }, 'bad frame; dropping');
          sock.destroy();
        } else fail(code, (err as Error).message);
      }
    };
    sock.on('data', onData);
    sock.once('close', () => {
      settle();
      if (c.id && this.byId.get(c.id) === c) this.drop(c, 'connection closed');
    });
  }

  private onPushEvent(
    c: Conn,
    e: PushEvent,
    ctx: { fail: (code: BalancerErrorCode, message: string) => void; settle: () => void },
  ): void {
    const { table } = this.components;
    const { fail } = ctx;
    switch (e.type) {
      case 'up': {
        const t = toRegistration(e.record);
        if (!t.ok) return fail('BAL_ERR_BAD_REGISTRATION', t.message);
        const r = table.register(t.reg);
        if (!r.ok) return fail(r.code, r.message);
        c.id = t.reg.id;
        this.byId.set(c.id, c);
        ctx.settle();
        c.sock.write(encodeLinkFrame({ v: 1, k: 'welcome' }));
        this.emit('registered', r.view);
        return;
      }
      case 'changed': {
        if (!c.id) return;
        if (e.record.id !== c.id || e.record.service !== table.get(c.id)?.service) {
          // identity is fixed by the registration; a container that changes it is misbehaving
          this.log.warn({ id: c.id }, 'container changed its id or service; dropping');
          c.sock.destroy();
          return;
        }
        table.report(c.id, {
          load: e.record.load,
          capacity: e.record.capacity,
          state: e.record.state === 'serving' ? 'serving' : 'draining',
        });
        return;
      }
      case 'heartbeat':
        return;
      case 'down':
        if (c.id) this.drop(c, 'container said goodbye');
        return;
      case 'failed':
        if (c.id) this.drop(c, e.reason);
        c.sock.destroy();
        return;
    }
  }

  private drop(c: Conn, reason: string): void {
    if (!c.id || this.byId.get(c.id) !== c) return;
    this.byId.delete(c.id);
    const v = this.components.table.drop(c.id);
    if (v) this.emit('dropped', v, reason);
  }

  private tick(): void {
    const now = this.components.clock.now();
    for (const c of [...this.byId.values()]) {
      for (const e of c.peer!.onTick(now)) if (e.type === 'failed') this.drop(c, e.reason);
      if (c.peer!.finished) c.sock.destroy();
    }
  }
}
