/**
 * The primary process: binds the SIP service addresses (UDP and TCP), forks workers and hands them the bound UDP
 * sockets, forwards each datagram to the worker chosen by {@link AffinityRouter} over SOCK_SEQPACKET, and hands
 * whole TCP connections over after reading their first message.
 */
import { fork, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SeqpacketServer, type SeqpacketSocket } from 'node-unix-socket';
import { extractSipKeys, type SipKeys } from '@switchyard/affinity';
import {
  RateLimitedLog,
  silentLogger,
  systemClock,
  type Clock,
  type Logger,
  type Startable,
  type TimerHandle,
} from '@switchyard/core';
import { parseListen, type DispatcherConfig, type ListenAddress } from '../config.js';
import { DispatcherError } from '../errors.js';
import {
  FRAME_HELLO,
  FRAME_SESSION,
  POP_HELLO,
  readFrameHeader,
  FRAME_INJECTED,
  FRAME_MAX_ADDR,
  FRAME_FIXED,
  FRAME_UDP,
  writeFrameHeader,
  type FromWorker,
  type ToWorker,
  type WorkerState,
} from '../ipc.js';
import { DispatcherMetrics } from '../metrics.js';
import { buildResponse, parseSipMessage, serializeSipMessage } from '../sip/message.js';
import { frameMessage } from '../sip/framing.js';
import { AffinityRouter, type RouteDecision, type Violation } from './router.js';
import { LINK_FRAME_TABLE, PopIngress } from './pop-ingress.js';
import type { SessionEvent, SessionHost } from '../session-host.js';

/** `spare`: started and connected but takes no traffic until a worker dies or more are needed. */
export type WorkerStatus = 'starting' | 'spare' | 'ready' | 'draining' | 'stopping';

interface WorkerSlot {
  readonly id: string;
  readonly child: ChildProcess;
  readonly pid: number;
  status: WorkerStatus;
  conn: SeqpacketSocket | undefined;
  readonly startedAt: number;
  /** Set when we stop it on purpose (drain, restart, shutdown): its exit is not a crash. */
  retiring: boolean;
  drainTimer: TimerHandle | undefined;
  dialogs: number;
  /** A hot spare (promoted to active when needed). */
  spare: boolean;
  readonly forwarded: { inc(): void };
}

/** What the control API shows per worker. */
export interface WorkerView {
  id: string;
  pid: number;
  status: WorkerStatus;
  load: number;
  state: WorkerState | undefined;
}

export interface DispatcherComponents {
  clock?: Clock;
  logger?: Logger;
  /** Worker entry (a built .js file); default: `worker-main.js` next to the built dispatcher. */
  workerEntry?: string;
}

interface BoundAddress {
  readonly listen: ListenAddress;
  udp: dgram.Socket;
  tcp: net.Server;
}

export class Dispatcher extends EventEmitter implements Startable, SessionHost {
  readonly metrics = new DispatcherMetrics();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly badInput: RateLimitedLog;
  private readonly workerEntry: string;
  private router: AffinityRouter;
  private readonly workers = new Map<string, WorkerSlot>();
  private readonly bound: BoundAddress[] = [];
  private seqServer: SeqpacketServer | undefined;
  private runtimeDir = '';
  private ownsRuntimeDir = false;
  private nextWorker = 1;
  private state: 'new' | 'running' | 'draining' | 'stopped' = 'new';
  private queryId = 0;
  private readonly pendingQueries = new Map<
    number,
    { worker: string; resolve: (s: WorkerState | undefined) => void }
  >();
  /** Reused for every forwarded datagram: header + payload. */
  private readonly frame: Buffer;
  private lastCrashAt = 0;
  private crashBackoffMs = 0;

  constructor(
    components: DispatcherComponents,
    readonly config: Readonly<DispatcherConfig>,
  ) {
    super();
    this.clock = components.clock ?? systemClock;
    this.logger = components.logger ?? silentLogger;
    this.badInput = new RateLimitedLog(this.logger, this.clock, 10, 1000);
    this.workerEntry = components.workerEntry ?? defaultWorkerEntry();
    this.router = new AffinityRouter(
      { clock: this.clock },
      { idleTtlMs: config.bindingIdleMs, loadThreshold: config.loadThreshold },
    );
    this.frame = Buffer.allocUnsafe(FRAME_FIXED + FRAME_MAX_ADDR + config.maxMessageBytes);
    this.pop = new PopIngress({
      clock: this.clock,
      logger: this.logger,
      registry: this.metrics.registry,
      send: (frame) => this.toPopRouters(frame),
      boundHere: (callId) => this.router.calls.lookup(callId) !== undefined,
    });
  }

  /** The POP data plane (tier 2): inactive, every datagram local, until a pop-router sends its table. */
  readonly pop: PopIngress;

  /** Addresses actually bound (port 0 resolved). */
  get addresses(): ListenAddress[] {
    return this.bound.map((b) => {
      const a = b.udp.address();
      return { host: a.address, port: a.port };
    });
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new DispatcherError('DSP_ERR_STATE', `start() in state ${this.state}`);
    this.state = 'running';
    this.runtimeDir = this.config.runtimeDir || fs.mkdtempSync(path.join(os.tmpdir(), 'sipdisp-'));
    this.ownsRuntimeDir = !this.config.runtimeDir;
    const seqPath = path.join(this.runtimeDir, 'workers.seqpacket');
    fs.rmSync(seqPath, { force: true });
    const server = new SeqpacketServer();
    server.on('connection', (sock: SeqpacketSocket) => this.onWorkerConnection(sock));
    server.on('error', (err: Error) => this.logger.error({ err }, 'seqpacket server error'));
    server.listen(seqPath, 64);
    this.seqServer = server;
    for (const spec of this.config.listen) await this.bindAddress(parseListen(spec));
    const starting = [];
    for (let i = 0; i < this.config.minWorkers; i++) starting.push(this.spawnWorker(false));
    for (let i = 0; i < this.config.spareWorkers; i++) starting.push(this.spawnWorker(true));
    await Promise.all(starting.map((id) => this.waitReady(id)));
    this.logger.info({ addresses: this.addresses, workers: this.config.minWorkers }, 'dispatcher started');
  }

  /**
   * SIGTERM: no new conferences; existing dialogs may finish up to `drainTimeoutMs`; then workers are stopped and the
   * sockets closed.
   */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'new') {
      this.state = 'stopped';
      return;
    }
    if (this.state === 'draining') return;
    this.state = 'draining';
    this.router.closeForNew();
    for (const w of this.workers.values()) {
      this.router.workerDraining(w.id);
      this.sendTo(w, { t: 'drain' });
    }
    const deadline = this.clock.now() + this.config.drainTimeoutMs;
    while (this.clock.now() < deadline && [...this.workers.values()].some((w) => w.dialogs > 0)) {
      await new Promise<void>((r) => this.clock.setTimeout(r, 50));
    }
    this.state = 'stopped';
    await Promise.all([...this.workers.values()].map((w) => this.stopWorker(w)));
    for (const b of this.bound) {
      b.udp.close();
      b.tcp.close();
    }
    this.seqServer?.close();
    this.router.stop();
    if (this.ownsRuntimeDir) fs.rmSync(this.runtimeDir, { recursive: true, force: true });
    this.logger.info('dispatcher stopped');
  }

  // ---- SessionHost (the POP router's view) ----

  /** A datagram that reached another host and was encapsulated to us: routed as if it arrived on `local`. */
  injectEncapsulated(packet: Uint8Array, from: { address: string; port: number }, local = 0): boolean {
    this.metrics.injected.inc();
    const buf = Buffer.isBuffer(packet)
      ? packet
      : Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength);
    return this.onDatagram(buf, from.address, from.port, local, FRAME_INJECTED);
  }

  // ---- control ----

  async listWorkers(): Promise<WorkerView[]> {
    const out: WorkerView[] = [];
    await Promise.all(
      [...this.workers.values()].map(async (w) => {
        out.push({
          id: w.id,
          pid: w.pid,
          status: w.status,
          load: this.router.loadOf(w.id),
          state: await this.query(w),
        });
      }),
    );
    return out.sort((a, b) => Number(a.id.slice(1)) - Number(b.id.slice(1)));
  }

  /** No new conferences for this worker; when its dialogs end (or at the drain deadline) it exits and is replaced. */
  drainWorker(id: string): WorkerView {
    const w = this.mustGet(id);
    if (w.status === 'ready' || w.status === 'starting') {
      w.status = 'draining';
      this.router.workerDraining(id);
      this.sendTo(w, { t: 'drain' });
      // keep the pool at its minimum while this one drains
      if (this.liveWorkers() - 1 < this.config.minWorkers) this.addActive();
      w.drainTimer = this.clock.setTimeout(() => void this.stopWorker(w), this.config.drainTimeoutMs);
      this.checkDrained(w);
    }
    return { id: w.id, pid: w.pid, status: w.status, load: this.router.loadOf(id), state: undefined };
  }

  /** Stops a worker now (its dialogs are lost, as in a crash) and starts a replacement. */
  async restartWorker(id: string): Promise<{ stopped: string; started: string }> {
    const w = this.mustGet(id);
    // the replacement first, so the pool never dips below its minimum
    const started = this.addActive();
    await this.stopWorker(w);
    await this.waitReady(started);
    return { stopped: id, started };
  }

  health(): { ok: boolean; state: string; ready: number } {
    const ready = [...this.workers.values()].filter((w) => w.status === 'ready').length;
    return { ok: this.state === 'running' && ready > 0, state: this.state, ready };
  }

  // ---- UDP ----

  private async bindAddress(listen: ListenAddress): Promise<void> {
    // port 0: the kernel picks a UDP port, and TCP must get the same one; retry when TCP holds it elsewhere
    const attempts = listen.port === 0 ? 10 : 1;
    for (let i = 1; ; i++) {
      try {
        await this.bindOnce(listen);
        return;
      } catch (err) {
        if (i >= attempts) throw err;
      }
    }
  }

  private async bindOnce(listen: ListenAddress): Promise<void> {
    const local = this.bound.length;
    const type = net.isIPv6(listen.host) ? 'udp6' : 'udp4';
    const udp = dgram.createSocket({ type, reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', (err) =>
        reject(
          new DispatcherError(
            'DSP_ERR_BIND',
            `cannot bind udp ${listen.host}:${listen.port}: ${err.message}`,
          ),
        ),
      );
      udp.bind(listen.port, listen.host, () => resolve());
    });
    // SIP over TCP uses the same port as UDP
    const port = udp.address().port;
    const tcp = net.createServer({ noDelay: true });
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', (err) =>
          reject(
            new DispatcherError('DSP_ERR_BIND', `cannot bind tcp ${listen.host}:${port}: ${err.message}`),
          ),
        );
        tcp.listen(port, listen.host, 511, () => resolve());
      });
    } catch (err) {
      udp.close();
      throw err;
    }
    udp.on('error', (err) => this.logger.warn({ err }, 'udp socket error'));
    try {
      udp.setRecvBufferSize(4 * 1024 * 1024);
    } catch {
      // the kernel cap (net.core.rmem_max) applies; the default is enough at low rates
    }
    udp.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo.address, rinfo.port, local, FRAME_UDP));
    tcp.on('error', (err) => this.logger.warn({ err }, 'tcp server error'));
    tcp.on('connection', (sock) => this.onTcpConnection(sock, local));
    this.bound.push({ listen: { host: listen.host, port }, udp, tcp });
  }

  /** The hot path: scan keys, route, forward. Returns whether the datagram was forwarded. */
  private onDatagram(msg: Buffer, address: string, port: number, local: number, frameType: number): boolean {
    this.metrics.datagrams.inc();
    const r = extractSipKeys(msg, { maxBytes: this.config.maxMessageBytes });
    if (!r.ok) {
      this.rejectDatagram(msg, address, port, local, r.reason);
      return false;
    }
    if (
      this.pop.plane.active &&
      this.pop.route(r.keys, msg, address, port, local, frameType === FRAME_INJECTED, this.bound[local]!.udp)
    )
      return true;
    let d: RouteDecision;
    try {
      d = this.router.route(r.keys);
    } catch (err) {
      // e.g. AFF_ERR_TABLE_FULL: lose this datagram (the peer retransmits), keep the primary up
      this.metrics.dropped.inc({ reason: 'route-error' });
      this.badInput.warn({ err: String(err) }, 'routing failed');
      return false;
    }
    if (d.kind === 'drop') {
      this.metrics.dropped.inc({ reason: d.reason });
      if (d.reason !== 'stray') this.replyStateless(msg, address, port, local, 503);
      return false;
    }
    const w = this.workers.get(d.worker);
    const conn = w?.conn;
    if (!w || !conn) {
      this.metrics.dropped.inc({ reason: 'worker-not-connected' });
      return false;
    }
    const off = writeFrameHeader(this.frame, frameType, local, address, port);
    msg.copy(this.frame, off);
    try {
      conn.write(this.frame, 0, off + msg.length);
    } catch {
      // the worker just died: its exit handler re-homes what it held; the peer retransmits
      this.metrics.dropped.inc({ reason: 'worker-gone' });
      return false;
    }
    w.forwarded.inc();
    if (d.newConference) this.maybeScaleUp();
    return true;
  }

  private rejectDatagram(msg: Buffer, address: string, port: number, local: number, reason: string): void {
    this.metrics.malformed.inc({ where: 'primary', reason });
    this.badInput.warn({ reason, peer: `${address}:${port}`, bytes: msg.length }, 'malformed SIP datagram');
    if (reason === 'empty') return;
    this.replyStateless(msg, address, port, local, reason === 'too-large' ? 513 : 400);
  }

  /** 400/503/513 from the primary when the request is readable enough to answer (never for ACK or responses). */
  private replyStateless(
    msg: Buffer,
    address: string,
    port: number,
    local: number,
    status: 400 | 503 | 513,
  ): void {
    const head =
      msg.length > this.config.maxMessageBytes ? msg.subarray(0, this.config.maxMessageBytes) : msg;
    const p = parseSipMessage(head, { maxBytes: this.config.maxMessageBytes });
    const req = p.ok ? (p.message.kind === 'request' ? p.message : undefined) : p.partial;
    if (!req || req.method === 'ACK' || !req.headers.some((h) => h.name === 'via')) return;
    const res = buildResponse(req, status, {
      headers: status === 503 ? [{ name: 'retry-after', value: '5' }] : [],
    });
    this.bound[local]?.udp.send(serializeSipMessage(res), port, address);
  }

  // ---- TCP ----

  private onTcpConnection(sock: net.Socket, local: number): void {
    let buf: Buffer = Buffer.alloc(0);
    let done = false;
    const timer = this.clock.setTimeout(() => finish('timeout'), this.config.tcpFirstMessageMs);
    const finish = (
      reason: 'timeout' | 'too-large' | 'bad-content-length' | 'no-worker' | 'closed' | 'malformed',
    ) => {
      if (done) return;
      done = true;
      this.clock.clearTimeout(timer);
      sock.removeListener('data', onData);
      this.metrics.tcpRejected.inc({ reason });
      if (reason !== 'closed' && reason !== 'timeout') {
        this.metrics.malformed.inc({ where: 'primary', reason: `tcp-${reason}` });
        const p = parseSipMessage(buf, { maxBytes: this.config.maxMessageBytes });
        const req = p.ok ? (p.message.kind === 'request' ? p.message : undefined) : p.partial;
        if (req && req.method !== 'ACK') {
          const status = reason === 'no-worker' ? 503 : reason === 'too-large' ? 513 : 400;
          sock.end(serializeSipMessage(buildResponse(req, status)));
        } else {
          sock.destroy();
        }
      } else {
        sock.destroy();
      }
      this.badInput.warn(
        { reason, peer: `${sock.remoteAddress}:${sock.remotePort}`, bytes: buf.length },
        'TCP peer rejected before hand-off',
      );
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const f = frameMessage(buf, this.config.maxMessageBytes);
      if (f.kind === 'incomplete') return;
      if (f.kind === 'error') return finish(f.reason);
      const keys = extractSipKeys(buf.subarray(f.start, f.start + f.length), {
        maxBytes: this.config.maxMessageBytes,
      });
      if (!keys.ok) return finish('malformed');
      this.handOff(
        sock,
        local,
        buf,
        keys.keys,
        () => finish('no-worker'),
        () => {
          done = true;
          this.clock.clearTimeout(timer);
        },
      );
    };
    sock.on('data', onData);
    sock.on('error', () => finish('closed'));
    sock.on('close', () => finish('closed'));
  }

  private handOff(
    sock: net.Socket,
    local: number,
    read: Buffer,
    keys: SipKeys,
    fail: () => void,
    ok: () => void,
  ): void {
    let d: RouteDecision | undefined;
    try {
      d = this.router.route(keys);
    } catch {
      d = undefined;
    }
    const w = d?.kind === 'worker' ? this.workers.get(d.worker) : undefined;
    if (!w || w.status === 'stopping' || !w.child.connected) {
      fail();
      return;
    }
    ok();
    // stop reading now: Node drops whatever the handle reads between here and the hand-off
    const handle = (sock as unknown as { _handle?: { readStop?: () => number; reading?: boolean } })._handle;
    handle?.readStop?.();
    if (handle) handle.reading = false;
    sock.pause();
    sock.removeAllListeners('data');
    sock.removeAllListeners('close');
    sock.removeAllListeners('error');
    let extra: Buffer | null;
    let bytes: Buffer = read;
    while ((extra = sock.read() as Buffer | null) !== null) bytes = Buffer.concat([bytes, extra]);
    // no peer address here: getpeername costs two syscalls per connection and the worker can ask its own socket
    w.child.send({ t: 'tcp', local, bytes } satisfies ToWorker, sock, { keepOpen: false }, (err) => {
      if (err) {
        this.metrics.tcpRejected.inc({ reason: 'handoff-failed' });
        sock.destroy();
      }
    });
    this.metrics.handoffs.inc();
    if (d?.kind === 'worker' && d.newConference) this.maybeScaleUp();
  }

  // ---- workers ----

  /** One more active worker: a ready spare is promoted at once (and a new spare forked), else a fresh fork. */
  private addActive(): string {
    for (const w of this.workers.values()) {
      if (w.spare && w.status === 'spare') {
        w.spare = false;
        w.status = 'ready';
        this.router.workerUp(w.id);
        this.logger.info({ worker: w.id, pid: w.pid }, 'spare worker promoted');
        this.updateWorkerGauge();
        this.ensureSpares();
        return w.id;
      }
    }
    return this.spawnWorker(false);
  }

  private ensureSpares(): void {
    if (this.state !== 'running') return;
    let spares = 0;
    for (const w of this.workers.values())
      if (w.spare && (w.status === 'starting' || w.status === 'spare')) spares++;
    for (; spares < this.config.spareWorkers; spares++) this.spawnWorker(true);
  }

  private spawnWorker(spare: boolean): string {
    const id = `w${this.nextWorker++}`;
    const child = fork(this.workerEntry, [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // structured clone: the bytes read before a TCP hand-off travel as a Buffer, not base64 in JSON
      serialization: 'advanced',
      // workers run the built JS: do not inherit loader flags (e.g. a test runner's source conditions)
      execArgv: [],
      env: { ...process.env },
    });
    const slot: WorkerSlot = {
      id,
      child,
      pid: child.pid ?? -1,
      status: 'starting',
      conn: undefined,
      startedAt: this.clock.now(),
      retiring: false,
      drainTimer: undefined,
      dialogs: 0,
      spare,
      forwarded: this.metrics.forwarded.labels({ worker: id }),
    };
    this.workers.set(id, slot);
    child.on('message', (m: FromWorker) => this.onWorkerMessage(slot, m));
    child.on('exit', (code, signal) => this.onWorkerExit(slot, code, signal));
    child.on('error', (err) => this.logger.warn({ err, worker: id }, 'worker process error'));
    this.sendTo(slot, {
      t: 'init',
      id,
      seqpacketPath: path.join(this.runtimeDir, 'workers.seqpacket'),
      locals: this.addresses.map((a) => ({ address: a.host, port: a.port })),
      uas: { t1Ms: this.config.t1Ms, answerDelayMs: this.config.answerDelayMs, ringing: this.config.ringing },
      maxMessageBytes: this.config.maxMessageBytes,
      tcpIdleMs: this.config.tcpIdleMs,
      statsIntervalMs: 1000,
    });
    this.bound.forEach((b, local) => child.send({ t: 'udp', local } satisfies ToWorker, b.udp));
    this.updateWorkerGauge();
    this.logger.info({ worker: id, pid: slot.pid }, 'worker forked');
    return id;
  }

  private async waitReady(id: string): Promise<void> {
    const deadline = this.clock.now() + this.config.workerStartTimeoutMs;
    for (;;) {
      const w = this.workers.get(id);
      if (!w) throw new DispatcherError('DSP_ERR_WORKER_START', `worker ${id} exited before it was ready`);
      if (w.status !== 'starting') return;
      if (this.clock.now() > deadline)
        throw new DispatcherError(
          'DSP_ERR_WORKER_START',
          `worker ${id} not ready after ${this.config.workerStartTimeoutMs} ms`,
        );
      await new Promise<void>((r) => this.clock.setTimeout(r, 10));
    }
  }

  private onWorkerConnection(sock: SeqpacketSocket): void {
    sock.on('error', (err: Error) => this.logger.warn({ err }, 'worker seqpacket error'));
    sock.once('data', (buf: Buffer) => {
      if (buf[0] !== FRAME_HELLO) return;
      const id = buf.toString('latin1', 1);
      if (id === POP_HELLO) {
        this.adoptPopConnection(sock);
        return;
      }
      const w = this.workers.get(id);
      if (!w) {
        // never destroy inside a data handler (node-unix-socket aborts): defer
        setImmediate(() => sock.destroy());
        return;
      }
      w.conn = sock;
      this.maybeReady(w);
    });
  }

  private readySignals = new Set<string>();
  /** POP routers connected over the seqpacket socket (DESIGN: the pop-router talks to us this way). */
  private readonly popConns = new Set<SeqpacketSocket>();

  /** Where workers and a local POP router connect (SOCK_SEQPACKET). */
  get seqpacketPath(): string {
    return path.join(this.runtimeDir, 'workers.seqpacket');
  }

  /**
   * A POP router on the seqpacket socket: it sends FRAME_INJECTED frames (same header as the workers' frames) for
   * datagrams that arrived encapsulated, and receives FRAME_SESSION frames for every session opened or closed.
   */
  private adoptPopConnection(sock: SeqpacketSocket): void {
    this.popConns.add(sock);
    // the default read buffer would truncate a full-size datagram
    sock.setInternalReadBufferSize(FRAME_FIXED + FRAME_MAX_ADDR + this.config.maxMessageBytes);
    const forget = () => this.popConns.delete(sock);
    sock.on('end', forget);
    sock.on('close', forget);
    sock.on('error', forget);
    sock.on('data', (frame: Buffer) => {
      if (frame[0] === LINK_FRAME_TABLE) return this.pop.onRouterFrame(frame);
      const h = readFrameHeader(frame);
      if (!h || h.type !== FRAME_INJECTED) {
        this.metrics.malformed.inc({ where: 'primary', reason: 'pop-frame' });
        return;
      }
      this.injectEncapsulated(frame.subarray(h.payloadOffset), { address: h.address, port: h.port }, h.local);
    });
    this.logger.info('POP router connected');
    this.pop.routerConnected();
  }

  private toPopRouters(frame: Buffer): void {
    for (const c of this.popConns) {
      try {
        c.write(frame);
      } catch {
        this.popConns.delete(c);
      }
    }
  }

  private publishSession(event: 'sessionOpened' | 'sessionClosed', e: SessionEvent): void {
    this.emit(event, e);
    if (this.popConns.size === 0) return;
    this.toPopRouters(
      Buffer.concat([Buffer.from([FRAME_SESSION]), Buffer.from(JSON.stringify({ event, ...e }))]),
    );
  }

  /** A worker is ready once it said so over IPC and its seqpacket connection said hello (either order). */
  private maybeReady(w: WorkerSlot): void {
    if (!w.conn || !this.readySignals.has(w.id) || w.status !== 'starting') return;
    w.status = w.spare ? 'spare' : 'ready';
    if (this.state === 'running') {
      if (!w.spare) this.router.workerUp(w.id);
    } else {
      this.router.workerDraining(w.id);
      this.sendTo(w, { t: 'drain' });
    }
    this.updateWorkerGauge();
    this.logger.info({ worker: w.id, pid: w.pid, ms: this.clock.now() - w.startedAt }, 'worker ready');
  }

  private onWorkerMessage(w: WorkerSlot, m: FromWorker): void {
    switch (m.t) {
      case 'ready':
        this.readySignals.add(w.id);
        this.maybeReady(w);
        return;
      case 'open': {
        w.dialogs++;
        this.pop.dialogOpened(m.conf || m.callId, m.callId);
        const v = this.router.dialogOpened(w.id, m.callId, m.conf);
        if (v) this.onViolation(v);
        this.metrics.sessionsOpened.inc();
        this.publishSession('sessionOpened', {
          callId: m.callId,
          conferenceId: m.conf,
          worker: w.id,
        } satisfies SessionEvent);
        return;
      }
      case 'close':
        w.dialogs = Math.max(0, w.dialogs - 1);
        this.router.dialogClosed(w.id, m.callId, m.conf);
        this.pop.dialogClosed(m.conf || m.callId, m.callId);
        this.metrics.sessionsClosed.inc();
        this.publishSession('sessionClosed', {
          callId: m.callId,
          conferenceId: m.conf,
          worker: w.id,
        } satisfies SessionEvent);
        this.checkDrained(w);
        return;
      case 'no-dialog': {
        const v = this.router.noDialog(w.id, m.callId);
        if (v) this.onViolation(v);
        return;
      }
      case 'state':
        this.pendingQueries.get(m.q)?.resolve(m.state);
        this.pendingQueries.delete(m.q);
        return;
      case 'malformed':
        this.metrics.malformed.inc({ where: 'worker', reason: m.reason });
        return;
    }
  }

  private onViolation(v: Violation): void {
    this.metrics.violations.inc({ kind: v.kind });
    this.logger.error(v, 'affinity violation');
    const w = this.workers.get(v.reporter);
    if (w) this.sendTo(w, { t: 'violation', kind: v.kind, key: v.key, owner: v.owner });
  }

  private checkDrained(w: WorkerSlot): void {
    if (w.status === 'draining' && w.dialogs === 0) void this.stopWorker(w);
  }

  private onWorkerExit(w: WorkerSlot, code: number | null, signal: NodeJS.Signals | null): void {
    this.workers.delete(w.id);
    this.readySignals.delete(w.id);
    this.clock.clearTimeout(w.drainTimer);
    const dropped = this.router.workerDown(w.id);
    // a dead worker will not answer: do not make the control API wait for it
    for (const p of [...this.pendingQueries.values()]) if (p.worker === w.id) p.resolve(undefined);
    if (w.conn) {
      const c = w.conn;
      setImmediate(() => c.destroy());
    }
    this.metrics.workerLoad.remove({ worker: w.id });
    this.updateWorkerGauge();
    if (w.retiring || this.state !== 'running') {
      this.logger.info({ worker: w.id, code, signal }, 'worker stopped');
      if (this.state === 'running' && this.liveWorkers() < this.config.minWorkers) this.addActive();
      return;
    }
    if (w.spare) {
      this.logger.error({ worker: w.id, pid: w.pid, code, signal }, 'spare worker died');
      this.clock.setTimeout(() => this.ensureSpares(), 100);
      return;
    }
    // a crash: restart at once, backing off only if crashes come in a burst
    this.metrics.restarts.inc();
    const now = this.clock.now();
    this.crashBackoffMs =
      now - this.lastCrashAt < 2000 ? Math.min(5000, Math.max(100, this.crashBackoffMs * 2)) : 0;
    this.lastCrashAt = now;
    this.logger.error(
      { worker: w.id, pid: w.pid, code, signal, ...dropped, backoffMs: this.crashBackoffMs },
      'worker crashed; restarting',
    );
    const restart = () => {
      if (this.state === 'running' && this.liveWorkers() < Math.max(this.config.minWorkers, 1))
        this.addActive();
    };
    // a ready spare takes over at once; a fresh fork waits out the crash backoff
    const spareReady = [...this.workers.values()].some((x) => x.status === 'spare');
    if (this.crashBackoffMs && !spareReady) this.clock.setTimeout(restart, this.crashBackoffMs);
    else restart();
  }

  private async stopWorker(w: WorkerSlot): Promise<void> {
    if (!this.workers.has(w.id)) return;
    w.retiring = true;
    w.status = 'stopping';
    this.router.workerDraining(w.id);
    this.clock.clearTimeout(w.drainTimer);
    const exited = new Promise<void>((resolve) => {
      if (w.child.exitCode !== null || w.child.signalCode !== null) resolve();
      else w.child.once('exit', () => resolve());
    });
    w.child.kill('SIGTERM');
    const force = this.clock.setTimeout(() => w.child.kill('SIGKILL'), 3000);
    await exited;
    this.clock.clearTimeout(force);
  }

  private maybeScaleUp(): void {
    if (this.state !== 'running' || this.liveWorkers() >= this.config.maxWorkers) return;
    if ([...this.workers.values()].some((w) => w.status === 'starting' && !w.spare)) return;
    if (!this.router.allAboveThreshold()) return;
    const id = this.addActive();
    this.logger.info({ worker: id }, 'every worker above the load threshold: started another');
  }

  private liveWorkers(): number {
    let n = 0;
    for (const w of this.workers.values())
      if (!w.spare && (w.status === 'starting' || w.status === 'ready')) n++;
    return n;
  }

  private updateWorkerGauge(): void {
    const counts: Record<WorkerStatus, number> = {
      starting: 0,
      spare: 0,
      ready: 0,
      draining: 0,
      stopping: 0,
    };
    for (const w of this.workers.values()) counts[w.status]++;
    for (const [state, n] of Object.entries(counts)) this.metrics.workers.set({ state }, n);
  }

  private query(w: WorkerSlot): Promise<WorkerState | undefined> {
    if (!w.child.connected) return Promise.resolve(undefined);
    const q = ++this.queryId;
    return new Promise((resolve) => {
      const t = this.clock.setTimeout(() => {
        this.pendingQueries.delete(q);
        resolve(undefined);
      }, 1000);
      this.pendingQueries.set(q, {
        worker: w.id,
        resolve: (s) => {
          this.clock.clearTimeout(t);
          this.pendingQueries.delete(q);
          resolve(s);
        },
      });
      this.sendTo(w, { t: 'query', q });
    });
  }

  /** Refreshes the per-worker load gauge (called on scrape). */
  refreshGauges(): void {
    for (const w of this.workers.values())
      this.metrics.workerLoad.set({ worker: w.id }, this.router.loadOf(w.id));
  }

  /** Which worker holds a conference (per the workers' dialog reports), for the control API. */
  conferenceHost(conf: string): string | undefined {
    return this.router.conferenceHost(conf);
  }

  private sendTo(w: WorkerSlot, m: ToWorker): void {
    if (w.child.connected) w.child.send(m);
  }

  private mustGet(id: string): WorkerSlot {
    const w = this.workers.get(id);
    if (!w) throw new DispatcherError('DSP_ERR_NO_WORKER', `no worker ${id}`);
    return w;
  }
}

function defaultWorkerEntry(): string {
  const here = fileURLToPath(import.meta.url);
  // built: dist/primary/dispatcher.js → dist/worker-main.js; from sources (tests): src/primary → ../../dist
  return here.endsWith('.ts')
    ? path.resolve(path.dirname(here), '../../dist/worker-main.js')
    : path.resolve(path.dirname(here), '../worker-main.js');
}
