/**
 * The worker pool's I/O adapter: forks worker processes, passes them the bound UDP sockets, carries their IPC
 * messages and seqpacket connections, arms the pool's timers on the injected clock, and turns what happens to the
 * processes into {@link PoolEvent}s for {@link WorkerPool}. It decides nothing.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type dgram from 'node:dgram';
import type { SeqpacketSocket } from 'node-unix-socket';
import type { Clock, Logger, TimerHandle } from '@switchyard/core';
import { IPC_SERIALIZATION, type FromWorker, type ToWorker, type WorkerState } from '../ipc.js';
import type { PoolEvent, PoolTimer } from './worker-pool.js';

export interface WorkerProcessesComponents {
  clock: Clock;
  logger: Logger;
  /** Built worker entry (.js). */
  workerEntry: string;
  /** Events for the pool. */
  poolEvent(e: PoolEvent): void;
  /** Everything else a worker says (dialogs opened/closed, malformed counts …). */
  workerMessage(id: string, m: FromWorker): void;
}

export interface WorkerProcessesInit {
  /** The init message for a worker with this id. */
  initMessage(id: string): Extract<ToWorker, { t: 'init' }>;
  /** The bound service UDP sockets, in `--listen` order (passed to every worker). */
  udpSockets(): readonly dgram.Socket[];
  /** A worker's answer to a state query must come within this (ms), else the query yields nothing. */
  queryTimeoutMs: number;
}

interface Proc {
  readonly child: ChildProcess;
  conn: SeqpacketSocket | undefined;
}

export class WorkerProcesses {
  private readonly procs = new Map<string, Proc>();
  private readonly timers = new Map<string, TimerHandle>();
  private queryId = 0;
  private readonly queries = new Map<number, { worker: string; resolve(s: WorkerState | undefined): void }>();

  constructor(
    private readonly c: WorkerProcessesComponents,
    private readonly init: WorkerProcessesInit,
  ) {}

  fork(id: string): number {
    const child = fork(this.c.workerEntry, [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // JSON: every message is plain JSON, and it costs less per message than V8's serializer (see IPC_SERIALIZATION)
      serialization: IPC_SERIALIZATION,
      // workers run the built JS: do not inherit loader flags (e.g. a test runner's source conditions)
      execArgv: [],
      env: { ...process.env },
    });
    this.procs.set(id, { child, conn: undefined });
    child.on('message', (m: FromWorker) => this.onMessage(id, m));
    child.on('exit', (code, signal) => this.onExit(id, code, signal));
    child.on('error', (err) => this.c.logger.warn({ err, worker: id }, 'worker process error'));
    this.send(id, this.init.initMessage(id));
    this.init.udpSockets().forEach((s, local) => {
      if (child.connected) child.send({ t: 'udp', local } satisfies ToWorker, s);
    });
    return child.pid ?? -1;
  }

  /** The worker's seqpacket connection said hello with its id. Returns false for an unknown id. */
  attach(id: string, conn: SeqpacketSocket): boolean {
    const p = this.procs.get(id);
    if (!p) return false;
    p.conn = conn;
    this.c.poolEvent({ type: 'connected', id });
    return true;
  }

  conn(id: string): SeqpacketSocket | undefined {
    return this.procs.get(id)?.conn;
  }

  pid(id: string): number {
    return this.procs.get(id)?.child.pid ?? -1;
  }

  /** Whether the worker can take a TCP connection (its IPC channel is up). */
  connected(id: string): boolean {
    return this.procs.get(id)?.child.connected ?? false;
  }

  child(id: string): ChildProcess | undefined {
    return this.procs.get(id)?.child;
  }

  send(id: string, m: ToWorker): void {
    const child = this.procs.get(id)?.child;
    if (child?.connected) child.send(m);
  }

  kill(id: string, signal: 'SIGTERM' | 'SIGKILL'): void {
    const child = this.procs.get(id)?.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill(signal);
  }

  arm(timer: PoolTimer, id: string | undefined, ms: number): void {
    const key = `${timer}:${id ?? ''}`;
    this.c.clock.clearTimeout(this.timers.get(key));
    this.timers.set(
      key,
      this.c.clock.setTimeout(() => {
        this.timers.delete(key);
        this.c.poolEvent(id === undefined ? { type: 'timer', timer } : { type: 'timer', timer, id });
      }, ms),
    );
  }

  disarm(timer: PoolTimer, id: string | undefined): void {
    const key = `${timer}:${id ?? ''}`;
    this.c.clock.clearTimeout(this.timers.get(key));
    this.timers.delete(key);
  }

  /** Asks a worker for its state; undefined when it does not answer in time or is gone. */
  query(id: string): Promise<WorkerState | undefined> {
    const child = this.procs.get(id)?.child;
    if (!child?.connected) return Promise.resolve(undefined);
    const q = ++this.queryId;
    return new Promise((resolve) => {
      const t = this.c.clock.setTimeout(() => done(undefined), this.init.queryTimeoutMs);
      const done = (s: WorkerState | undefined) => {
        this.c.clock.clearTimeout(t);
        this.queries.delete(q);
        resolve(s);
      };
      this.queries.set(q, { worker: id, resolve: done });
      child.send({ t: 'query', q } satisfies ToWorker);
    });
  }

  /** Every timer cancelled (after shutdown). */
  clearTimers(): void {
    for (const t of this.timers.values()) this.c.clock.clearTimeout(t);
    this.timers.clear();
  }

  private onMessage(id: string, m: FromWorker): void {
    if (m.t === 'ready') {
      this.c.poolEvent({ type: 'ipc-ready', id });
      return;
    }
    if (m.t === 'state') {
      this.queries.get(m.q)?.resolve(m.state);
      return;
    }
    this.c.workerMessage(id, m);
  }

  private onExit(id: string, code: number | null, signal: NodeJS.Signals | null): void {
    const p = this.procs.get(id);
    this.procs.delete(id);
    // a dead worker will not answer: do not make the control API wait for it
    for (const q of [...this.queries.values()]) if (q.worker === id) q.resolve(undefined);
    const conn = p?.conn;
    // never destroy a seqpacket socket from inside one of its handlers (node-unix-socket aborts): defer
    if (conn) setImmediate(() => conn.destroy());
    this.c.poolEvent({ type: 'exited', id, code, signal });
  }
}
