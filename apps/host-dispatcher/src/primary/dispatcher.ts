/**
 * The primary process, composed of small parts: it binds the SIP service addresses ({@link bindServiceAddress}),
 * runs the worker pool ({@link WorkerPool}, a pure state machine, executed by {@link WorkerProcesses}), routes
 * datagrams ({@link UdpIngress}) and TCP connections ({@link TcpIngress}) by one decision ({@link decideRoute},
 * with the POP data plane's {@link PopRouting} hook), serves the POP link ({@link PopLink}) and answers the control
 * API. Readiness and stop are awaited events, never polled.
 */
import { EventEmitter } from 'node:events';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SeqpacketServer, type SeqpacketSocket } from 'node-unix-socket';
import {
  RateLimitedLog,
  silentLogger,
  systemClock,
  type Clock,
  type Logger,
  type Startable,
} from '@switchyard/core';
import { parseListen, type DispatcherConfig, type ListenAddress } from '../config.js';
import { DispatcherError } from '../errors.js';
import {
  FRAME_BOUNCED,
  FRAME_BOUNCED_UNDELEGATE,
  FRAME_HELLO,
  FRAME_INJECTED,
  FRAME_UDP,
  POP_HELLO,
  type FromWorker,
  type WorkerState,
} from '../ipc.js';
import { DispatcherMetrics } from '../metrics.js';
import { PopLink } from '../ingress/pop-link.js';
import { ADMISSION_DEFAULTS } from '../overload/admission.js';
import { PopIngress } from './pop-ingress.js';
import type { PopRouting } from '../ingress/routing.js';
import {
  bindServiceAddress,
  SERVICE_SOCKET_DEFAULTS,
  type ServiceSockets,
} from '../ingress/service-sockets.js';
import { TcpIngress } from '../ingress/tcp-ingress.js';
import { UdpIngress } from '../ingress/udp-ingress.js';
import {
  POOL_TIMING_DEFAULTS,
  WorkerPool,
  type PoolAction,
  type PoolEvent,
  type WorkerStatus,
} from '../pool/worker-pool.js';
import { WorkerProcesses } from '../pool/worker-processes.js';
import type { SessionEvent, SessionHost } from '../session-host.js';
import { AffinityRouter, type Violation } from './router.js';
import { DialogHandover } from './dialog-handover.js';
import { DIALOG_MIRROR_DEFAULTS } from './dialog-mirror.js';
import { MoverMetrics } from './mover-metrics.js';
import { PrimarySteering } from '../steering/primary-steering.js';
import { isSteerableAddress, STEERING_DEFAULTS, type SteeringInit } from '../steering/steering-table.js';

export type { WorkerStatus } from '../pool/worker-pool.js';

/** Timings of the primary that are not settings (each a named default, so none is a bare number in the code). */
export const PRIMARY_DEFAULTS = {
  /** A worker's answer to a state query (control API) must come within this (ms). */
  queryTimeoutMs: 1_000,
  /** Workers report their counters this often (ms). */
  statsIntervalMs: 1_000,
  /** Bad input is logged at most this many times per window … */
  badInputLogs: 10,
  /** … of this length (ms). */
  badInputWindowMs: 1_000,
} as const;

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
  /** The POP data plane's routing hook (see {@link PopRouting}); settable later with {@link Dispatcher.setPopRouting}. */
  popRouting?: PopRouting;
  /** Kernel steering's limits when `config.steering` is on (default STEERING_DEFAULTS; tests: the test profile). */
  steering?: SteeringInit;
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

export class Dispatcher extends EventEmitter implements Startable, SessionHost {
  readonly metrics = new DispatcherMetrics();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly badInput: RateLimitedLog;
  private readonly router: AffinityRouter;
  private readonly pool: WorkerPool;
  private readonly procs: WorkerProcesses;
  private readonly udpIngress: UdpIngress;
  private readonly tcpIngress: TcpIngress;
  private readonly popLink: PopLink;
  private readonly handover: DialogHandover;
  private readonly moverMetrics: MoverMetrics;
  private readonly bound: ServiceSockets[] = [];
  /** Per service address: whether kernel steering may delegate its peers (on, and not a wildcard address). */
  private readonly steerableLocals: boolean[] = [];
  /** C10: the UDP socket on `--inner-address` (vxlan POP): what the kernel decapsulated for us arrives here. */
  private inner: dgram.Socket | undefined;
  private seqServer: SeqpacketServer | undefined;
  private runtimeDir = '';
  private ownsRuntimeDir = false;
  private phase: 'new' | 'running' | 'draining' | 'stopped' = 'new';
  private readonly readyWaiters = new Map<string, Waiter[]>();
  private readonly exitWaiters = new Map<string, (() => void)[]>();
  private stopped: Promise<void> | undefined;
  private resolveStopped: (() => void) | undefined;

  constructor(
    components: DispatcherComponents,
    readonly config: Readonly<DispatcherConfig>,
  ) {
    super();
    this.clock = components.clock ?? systemClock;
    this.logger = components.logger ?? silentLogger;
    this.badInput = new RateLimitedLog(
      this.logger,
      this.clock,
      PRIMARY_DEFAULTS.badInputLogs,
      PRIMARY_DEFAULTS.badInputWindowMs,
    );
    this.router = new AffinityRouter(
      { clock: this.clock },
      { idleTtlMs: config.bindingIdleMs, loadThreshold: config.loadThreshold },
    );
    this.pool = new WorkerPool(
      { clock: this.clock },
      {
        ...POOL_TIMING_DEFAULTS,
        minWorkers: config.minWorkers,
        spareWorkers: config.spareWorkers,
        maxWorkers: config.maxWorkers,
        workerStartTimeoutMs: config.workerStartTimeoutMs,
        drainTimeoutMs: config.drainTimeoutMs,
      },
    );
    this.procs = new WorkerProcesses(
      {
        clock: this.clock,
        logger: this.logger,
        workerEntry: components.workerEntry ?? defaultWorkerEntry(),
        poolEvent: (e) => this.feed(e),
        workerMessage: (id, m) => this.onWorkerMessage(id, m),
      },
      {
        initMessage: (id) => ({
          t: 'init',
          id,
          seqpacketPath: this.seqpacketPath,
          locals: this.addresses.map((a) => ({ address: a.host, port: a.port })),
          uas: {
            t1Ms: config.t1Ms,
            answerDelayMs: config.answerDelayMs,
            ringing: !config.noRinging,
            dialogIdleMs: config.dialogIdleMs,
            maxDialogs: config.maxDialogsPerWorker,
            maxDialogsPerSource: config.maxDialogsPerSource,
          },
          maxMessageBytes: config.maxMessageBytes,
          tcpIdleMs: config.tcpIdleMs,
          statsIntervalMs: PRIMARY_DEFAULTS.statsIntervalMs,
          steering: components.steering ?? STEERING_DEFAULTS,
        }),
        udpSockets: () => this.bound.map((b) => b.udp),
        queryTimeoutMs: PRIMARY_DEFAULTS.queryTimeoutMs,
        // the runtime directory exists from start(), before any fork
        handoffDir: () => (config.tcpHandoffChannel ? this.runtimeDir : undefined),
      },
    );
    this.moverMetrics = new MoverMetrics(this.metrics.mediaMover);
    this.handover = new DialogHandover(
      {
        logger: this.logger,
        metrics: this.metrics,
        router: this.router,
        write: (id, packet) => {
          const conn = this.procs.conn(id);
          if (!conn) return false;
          conn.write(packet);
          return true;
        },
      },
      {
        ...DIALOG_MIRROR_DEFAULTS,
        maxDialogsPerWorker: config.maxDialogsPerWorker,
        // a state comes from one message; the workers read packets of twice the largest message
        maxStateBytes: Math.min(DIALOG_MIRROR_DEFAULTS.maxStateBytes, config.maxMessageBytes),
        maxPacketBytes: 2 * config.maxMessageBytes,
      },
    );
    const newConference = () => this.maybeScaleUp();
    this.udpIngress = new UdpIngress(
      {
        router: this.router,
        metrics: this.metrics,
        badInput: this.badInput,
        workerConn: (id) => this.procs.conn(id),
        reply: (bytes, address, port, local) => this.bound[local]?.udp.send(bytes, port, address),
        newConference,
        now: () => this.clock.now(),
      },
      {
        maxMessageBytes: config.maxMessageBytes,
        admission: { ...ADMISSION_DEFAULTS, callsPerWorkerPerS: config.newCallsPerWorkerPerS },
      },
    );
    this.tcpIngress = new TcpIngress(
      {
        clock: this.clock,
        router: this.router,
        metrics: this.metrics,
        badInput: this.badInput,
        workerFor: (id) => {
          const w = this.pool.get(id);
          return w && w.status !== 'stopping' && this.procs.connected(id) ? this.procs.target(id) : undefined;
        },
        newConference,
      },
      { maxMessageBytes: config.maxMessageBytes, tcpFirstMessageMs: config.tcpFirstMessageMs },
    );
    this.popLink = new PopLink(
      {
        logger: this.logger,
        metrics: this.metrics,
        inject: (payload, from, local) => this.injectEncapsulated(payload, from, local),
        routerFrame: (frame) => {
          this.pop.onRouterFrame(frame);
          this.steering?.revalidate();
        },
        routerConnected: () => this.pop.routerConnected(),
      },
      { maxMessageBytes: config.maxMessageBytes },
    );
    this.pop = new PopIngress({
      clock: this.clock,
      logger: this.logger,
      registry: this.metrics.registry,
      send: (frame) => this.popLink.send(frame),
      ownerToken: (token) => {
        this.ownerToken = token ?? null;
        for (const w of this.pool.list()) this.procs.send(w.id, { t: 'owner-token', token: this.ownerToken });
      },
      // both modes (C15): the outer datagram leaves from a socket not bound to the VIP, so its source is this
      // host's own address on the POP network (from the VIP socket it would carry the VIP, which the owner has on lo
      // too and drops as a martian; and the vxlan fence admits only the POP network's addresses). The owner needs
      // no outer source: the udp header names the sender and carries the client's address and the service index.
      // PopIngress keeps one such socket per owner host, connected (pop-ingress.ts)
      // the kernel forward's key names the service port a client sent to
      servicePort: (local) => this.bound[local]?.udp.address().port ?? 0,
    });
    // the POP data plane: inactive (every message claimed here, as without a POP) until a pop-router sends its table
    this.udpIngress.pop = components.popRouting ?? this.pop;
    this.steering = config.steering ? this.makeSteering(components.steering ?? STEERING_DEFAULTS) : undefined;
    this.udpIngress.steer = this.steering;
  }

  /** Kernel steering (src/steering/), when `config.steering` is on. */
  private readonly steering: PrimarySteering | undefined;

  private makeSteering(init: SteeringInit): PrimarySteering {
    return new PrimarySteering(
      {
        registry: this.metrics.registry,
        view: {
          // this host's own POP data plane inactive: no session is owned by another host (with a POP, off: v1)
          allowed: () => this.udpIngress.pop === this.pop && !this.pop.plane.active,
          steerable: (local) => this.steerableLocals[local] ?? false,
          workerReady: (id) => this.pool.get(id)?.status === 'ready',
          conferenceHost: (conf) => this.router.conferenceHost(conf),
        },
        send: (id, m) => this.procs.send(id, m),
        route: (payload, address, port, local) =>
          this.udpIngress.onDatagram(payload, address, port, local, FRAME_UDP),
      },
      init,
    );
  }

  /** The POP data plane fed by the local pop-router (tier 2). */
  readonly pop: PopIngress;
  /** This host's owner token (C9), given to every worker for its Contact; null until a router sends the keys. */
  private ownerToken: string | null = null;

  /** Installs (or removes) the POP data plane's routing hook. */
  setPopRouting(hook: PopRouting | undefined): void {
    this.udpIngress.pop = hook;
  }

  /** Addresses actually bound (port 0 resolved). */
  get addresses(): ListenAddress[] {
    return this.bound.map((b) => {
      const a = b.udp.address();
      return { host: a.address, port: a.port };
    });
  }

  /** Where workers and a local POP router connect (SOCK_SEQPACKET). */
  get seqpacketPath(): string {
    return path.join(this.runtimeDir, 'workers.seqpacket');
  }

  async start(): Promise<void> {
    if (this.phase !== 'new') throw new DispatcherError('DSP_ERR_STATE', `start() in state ${this.phase}`);
    this.phase = 'running';
    this.runtimeDir = this.config.runtimeDir || fs.mkdtempSync(path.join(os.tmpdir(), 'sipdisp-'));
    this.ownsRuntimeDir = !this.config.runtimeDir;
    fs.rmSync(this.seqpacketPath, { force: true });
    const server = new SeqpacketServer();
    server.on('connection', (sock: SeqpacketSocket) => this.onSeqpacketConnection(sock));
    server.on('error', (err: Error) => this.logger.error({ err }, 'seqpacket server error'));
    server.listen(this.seqpacketPath, 64);
    this.seqServer = server;
    for (const spec of this.config.listen) {
      const addr = parseListen(spec);
      // kernel steering needs SO_REUSEADDR (the workers' connected sockets share the port); never on a wildcard
      // address, which steering leaves alone
      const s = await bindServiceAddress(addr, {
        reuseAddr: this.config.steering && isSteerableAddress(addr.host),
      });
      this.steerableLocals.push(this.config.steering && isSteerableAddress(s.udp.address().address));
      const local = this.bound.length;
      s.udp.on('error', (err) => this.logger.warn({ err }, 'udp socket error'));
      s.udp.on('message', (msg, rinfo) =>
        this.udpIngress.onDatagram(msg, rinfo.address, rinfo.port, local, FRAME_UDP),
      );
      s.tcp.on('error', (err) => this.logger.warn({ err }, 'tcp server error'));
      this.tcpIngress.attach(s.tcp, local, (errno) => this.badInput.warn({ errno }, 'tcp accept failed'));
      this.bound.push(s);
    }
    if (this.config.innerAddress) this.inner = await this.bindInner(this.config.innerAddress);
    // one TCP hand-off channel ready for each worker forked at start (and a spare one for the next fork)
    await this.procs.prepareHandoff(this.config.minWorkers + this.config.spareWorkers + 1);
    const forked = this.feed({ type: 'start' }).flatMap((a) => (a.type === 'fork' ? [a.id] : []));
    try {
      await Promise.all(forked.map((id) => this.waitReady(id)));
    } catch (err) {
      // leave no worker behind: the caller sees the error and the process may exit at once
      await this.stop();
      throw err;
    }
    this.logger.info({ addresses: this.addresses, workers: this.config.minWorkers }, 'dispatcher started');
  }

  /**
   * SIGTERM: no new conferences; existing dialogs may finish up to `drainTimeoutMs`; then workers are stopped and the
   * sockets closed. Resolves when every worker has exited.
   */
  async stop(): Promise<void> {
    if (this.phase === 'new' || this.phase === 'stopped') {
      this.phase = 'stopped';
      return;
    }
    if (!this.stopped) {
      this.phase = 'draining';
      this.stopped = new Promise<void>((r) => (this.resolveStopped = r));
      this.feed({ type: 'shutdown' });
      await this.stopped;
      this.phase = 'stopped';
      this.procs.clearTimers();
      this.procs.closeHandoff();
      for (const b of this.bound) {
        b.udp.close();
        b.tcp.close();
      }
      this.inner?.close();
      this.pop.close();
      this.seqServer?.close();
      this.router.stop();
      if (this.ownsRuntimeDir) fs.rmSync(this.runtimeDir, { recursive: true, force: true });
      this.logger.info('dispatcher stopped');
    }
    await this.stopped;
  }

  /** The inner (tunnel) socket's address, when `--inner-address` is set. */
  get innerAddress(): ListenAddress | undefined {
    const a = this.inner?.address();
    return a ? { host: a.address, port: a.port } : undefined;
  }

  /**
   * Binds UDP on the inner address and the first service port (the vxlan templates' inner destination). A datagram
   * there was decapsulated by this host's kernel: it is routed as an injected one on service address 0, so it is
   * never forwarded again and its replies leave from the VIP socket. Throws DSP_ERR_BIND.
   */
  private async bindInner(host: string): Promise<dgram.Socket> {
    const port = this.addresses[0]!.port;
    const sock = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', (err) =>
        reject(new DispatcherError('DSP_ERR_BIND', `cannot bind inner udp ${host}:${port}: ${err.message}`)),
      );
      sock.bind(port, host, () => resolve());
    });
    try {
      sock.setRecvBufferSize(SERVICE_SOCKET_DEFAULTS.udpRecvBufferBytes);
    } catch {
      // capped by net.core.rmem_max
    }
    sock.on('error', (err) => this.logger.warn({ err }, 'inner udp socket error'));
    sock.on('message', (msg, rinfo) => {
      this.metrics.decapsulated.inc();
      this.udpIngress.onDatagram(msg, rinfo.address, rinfo.port, 0, FRAME_INJECTED);
    });
    return sock;
  }

  // ---- SessionHost (the POP router's view) ----

  /** A datagram that reached another host and was encapsulated to us: routed as if it arrived on `local`. */
  injectEncapsulated(packet: Uint8Array, from: { address: string; port: number }, local = 0): boolean {
    this.metrics.injected.inc();
    const buf = Buffer.isBuffer(packet)
      ? packet
      : Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength);
    return this.udpIngress.onDatagram(buf, from.address, from.port, local, FRAME_INJECTED);
  }

  // ---- control ----

  async listWorkers(): Promise<WorkerView[]> {
    const views = await Promise.all(
      this.pool.list().map(async (w) => ({
        id: w.id,
        pid: this.procs.pid(w.id),
        status: w.status,
        load: this.router.loadOf(w.id),
        state: await this.procs.query(w.id),
      })),
    );
    return views.sort((a, b) => Number(a.id.slice(1)) - Number(b.id.slice(1)));
  }

  /** No new conferences for this worker; when its dialogs end (or at the drain deadline) it exits and is replaced. */
  drainWorker(id: string): WorkerView {
    this.mustGet(id);
    this.feed({ type: 'drain', id });
    const w = this.pool.get(id);
    return {
      id,
      pid: this.procs.pid(id),
      status: w?.status ?? 'stopping',
      load: this.router.loadOf(id),
      state: undefined,
    };
  }

  /** Stops a worker now (its dialogs are lost, as in a crash) and starts a replacement. */
  async restartWorker(id: string): Promise<{ stopped: string; started: string }> {
    this.mustGet(id);
    const exited = new Promise<void>((r) => this.onExit(id, r));
    const actions = this.feed({ type: 'restart', id });
    const started = actions.find(
      (a): a is Extract<PoolAction, { type: 'promoted' | 'fork' }> =>
        a.type === 'promoted' || (a.type === 'fork' && !a.spare),
    )?.id;
    if (started === undefined)
      throw new DispatcherError('DSP_ERR_STATE', `worker ${id} cannot be restarted now`);
    await exited;
    await this.waitReady(started);
    return { stopped: id, started };
  }

  health(): { ok: boolean; state: string; ready: number } {
    const ready = this.pool.count('ready');
    return { ok: this.phase === 'running' && ready > 0, state: this.phase, ready };
  }

  /** Refreshes the per-worker load gauge (called on scrape). */
  refreshGauges(): void {
    let mirrored = 0;
    for (const w of this.pool.list()) {
      this.metrics.workerLoad.set({ worker: w.id }, this.router.loadOf(w.id));
      mirrored += this.handover.mirror.count(w.id);
    }
    this.metrics.dialogsMirrored.set(mirrored);
  }

  /** Which worker holds a conference (per the workers' dialog reports), for the control API. */
  conferenceHost(conf: string): string | undefined {
    return this.router.conferenceHost(conf);
  }

  // ---- the pool: events in, actions executed ----

  private feed(e: PoolEvent): PoolAction[] {
    const actions = this.pool.handle(e);
    for (const a of actions) this.apply(a);
    // dialogs of a crashed worker go to the spare promoted for it (else the least-loaded ready worker)
    this.handover.settle(actions.find((a) => a.type === 'promoted')?.id);
    if (actions.length) this.updateWorkerGauge();
    return actions;
  }

  private apply(a: PoolAction): void {
    switch (a.type) {
      case 'fork': {
        const pid = this.procs.fork(a.id);
        this.logger.info({ worker: a.id, pid, spare: a.spare }, 'worker forked');
        return;
      }
      case 'route-up':
        this.router.workerUp(a.id);
        return;
      case 'route-down':
        this.router.workerDraining(a.id);
        this.steering?.revokeWorker(a.id);
        return;
      case 'route-forget': {
        const dropped = this.router.workerDown(a.id);
        // whatever it still held when it exited (a crash, a kill at the drain deadline) is adopted by another
        this.handover.workerGone(a.id, this.phase === 'running');
        this.udpIngress.forget(a.id);
        this.steering?.workerGone(a.id);
        this.moverMetrics.forget(a.id);
        this.metrics.workerLoad.remove({ worker: a.id });
        this.settleWaiters(a.id, new DispatcherError('DSP_ERR_WORKER_START', `worker ${a.id} exited`));
        for (const r of this.exitWaiters.get(a.id) ?? []) r();
        this.exitWaiters.delete(a.id);
        if (a.crashed)
          this.logger.error({ worker: a.id, code: a.code, signal: a.signal, ...dropped }, 'worker crashed');
        else this.logger.info({ worker: a.id, code: a.code, signal: a.signal }, 'worker stopped');
        return;
      }
      case 'send-drain':
        this.procs.send(a.id, { t: 'drain' });
        return;
      case 'kill':
        this.steering?.revokeWorker(a.id);
        this.procs.kill(a.id, a.signal);
        return;
      case 'arm':
        this.procs.arm(a.timer, a.id, a.ms);
        return;
      case 'disarm':
        this.procs.disarm(a.timer, a.id);
        return;
      case 'ready': {
        const w = this.pool.get(a.id);
        this.logger.info(
          { worker: a.id, spare: a.spare, ms: w ? this.clock.now() - w.forkedAt : undefined },
          'worker ready',
        );
        this.settleWaiters(a.id);
        if (this.ownerToken !== null) this.procs.send(a.id, { t: 'owner-token', token: this.ownerToken });
        return;
      }
      case 'promoted':
        this.logger.info({ worker: a.id }, 'spare worker promoted');
        return;
      case 'start-failed':
        this.settleWaiters(
          a.id,
          new DispatcherError(
            'DSP_ERR_WORKER_START',
            `worker ${a.id} not ready after ${this.config.workerStartTimeoutMs} ms`,
          ),
        );
        return;
      case 'crashed':
        this.metrics.restarts.inc();
        this.logger.error({ worker: a.id, backoffMs: a.backoffMs }, 'worker crashed; replacing it');
        return;
      case 'close-for-new':
        this.router.closeForNew();
        return;
      case 'stopped':
        this.resolveStopped?.();
        return;
    }
  }

  /** Resolves when the worker is ready (or a spare); rejects when it exits or misses its start deadline. */
  private waitReady(id: string): Promise<void> {
    const w = this.pool.get(id);
    if (!w) return Promise.reject(new DispatcherError('DSP_ERR_WORKER_START', `worker ${id} exited`));
    if (w.status !== 'starting') return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const list = this.readyWaiters.get(id) ?? [];
      list.push({ resolve, reject });
      this.readyWaiters.set(id, list);
    });
  }

  private settleWaiters(id: string, err?: Error): void {
    const list = this.readyWaiters.get(id);
    if (!list) return;
    this.readyWaiters.delete(id);
    for (const w of list)
      if (err) w.reject(err);
      else w.resolve();
  }

  private onExit(id: string, r: () => void): void {
    const list = this.exitWaiters.get(id) ?? [];
    list.push(r);
    this.exitWaiters.set(id, list);
  }

  private onSeqpacketConnection(sock: SeqpacketSocket): void {
    sock.on('error', (err: Error) => this.logger.warn({ err }, 'seqpacket connection error'));
    sock.once('data', (buf: Buffer) => {
      if (buf[0] !== FRAME_HELLO) return;
      const id = buf.toString('latin1', 1);
      if (id === POP_HELLO) this.popLink.adopt(sock);
      // never destroy inside a data handler (node-unix-socket aborts): defer
      else if (!this.procs.attach(id, sock)) setImmediate(() => sock.destroy());
      // kernel steering: datagrams a worker got on a connected socket and hands back
      else sock.on('data', (b: Buffer) => isBounce(b[0]) && this.steering?.bounced(id, b));
    });
  }

  private onWorkerMessage(id: string, m: FromWorker): void {
    // Node may deliver a child's last IPC messages after its 'exit': a dialog report from a worker that is gone
    // would bind its Call-ID and conference to nobody, and every later message of them would be lost
    // (the dialog mirror passes such reports on to the worker that adopted its dialogs)
    if (!this.pool.get(id)) {
      this.handover.lateReport(id, m);
      return;
    }
    const adopted = this.handover.report(id, m);
    switch (m.t) {
      case 'open': {
        this.feed({ type: 'dialog-opened', id });
        const v = this.router.dialogOpened(id, m.callId, m.conf);
        if (v) this.onViolation(v);
        // an adopted dialog is the same session, opened when its first worker answered it
        if (adopted) return;
        this.pop.dialogOpened(m.conf || m.callId, m.callId);
        this.metrics.sessionsOpened.inc();
        this.publishSession('sessionOpened', sessionEvent(m, id));
        return;
      }
      case 'close':
        this.router.dialogClosed(id, m.callId, m.conf);
        this.pop.dialogClosed(m.conf || m.callId, m.callId);
        this.metrics.sessionsClosed.inc();
        this.publishSession('sessionClosed', sessionEvent(m, id));
        this.feed({ type: 'dialog-closed', id });
        return;
      case 'no-dialog': {
        const v = this.router.noDialog(id, m.callId);
        if (v) this.onViolation(v);
        return;
      }
      case 'malformed':
        this.metrics.malformed.inc({ where: 'worker', reason: m.reason });
        return;
      case 'mover':
        this.moverMetrics.report(id, m.c);
        return;
      case 'steered':
        this.steering?.report(id, m);
        return;
      case 'ready':
      case 'state':
      case 'mirror':
        return;
    }
  }

  private publishSession(event: 'sessionOpened' | 'sessionClosed', e: SessionEvent): void {
    this.emit(event, e);
    this.popLink.publish(event, e);
  }

  private onViolation(v: Violation): void {
    this.metrics.violations.inc({ kind: v.kind });
    this.logger.error(v, 'affinity violation');
    this.procs.send(v.reporter, { t: 'violation', kind: v.kind, key: v.key, owner: v.owner });
  }

  private maybeScaleUp(): void {
    if (this.router.allAboveThreshold()) this.feed({ type: 'scale-up' });
  }

  private updateWorkerGauge(): void {
    for (const state of ['starting', 'spare', 'ready', 'draining', 'stopping'] as const)
      this.metrics.workers.set({ state }, this.pool.count(state));
  }

  private mustGet(id: string): void {
    if (!this.pool.get(id)) throw new DispatcherError('DSP_ERR_NO_WORKER', `no worker ${id}`);
  }
}

function sessionEvent(m: { callId: string; conf?: string }, worker: string): SessionEvent {
  return m.conf === undefined
    ? { callId: m.callId, worker }
    : { callId: m.callId, conferenceId: m.conf, worker };
}

function isBounce(type: number | undefined): boolean {
  return type === FRAME_BOUNCED || type === FRAME_BOUNCED_UNDELEGATE;
}

function defaultWorkerEntry(): string {
  const here = fileURLToPath(import.meta.url);
  // built: dist/primary/dispatcher.js → dist/worker-main.js; from sources (tests): src/primary → ../../dist
  return here.endsWith('.ts')
    ? path.resolve(path.dirname(here), '../../dist/worker-main.js')
    : path.resolve(path.dirname(here), '../worker-main.js');
}
