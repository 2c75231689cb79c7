/**
 * The worker pool's I/O adapter: forks worker processes, passes them the bound UDP sockets, carries their IPC
 * messages and seqpacket connections, arms the pool's timers on the injected clock, and turns what happens to the
 * processes into {@link PoolEvent}s for {@link WorkerPool}. It decides nothing.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type dgram from 'node:dgram';
import type { SeqpacketSocket } from 'node-unix-socket';
import type { Clock, Logger, TimerHandle } from '@switchyard/core';
import path from 'node:path';
import { createHandoffPair, HandoffSender, type HandoffPair } from '../handoff-channel.js';
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
  /**
   * Where the TCP hand-off channels' socket pairs are made (see handoff-channel.ts); undefined: no channel, TCP
   * connections go over Node's IPC channel.
   */
  handoffDir?: () => string | undefined;
}

/** The worker's descriptor of its TCP hand-off channel (the stdio entry after 'ipc'). */
export const HANDOFF_FD = 4;

/** Where a TCP connection for a worker goes: its own hand-off channel, else Node's IPC channel. */
export interface HandoffTarget {
  readonly child: ChildProcess;
  readonly handoff: HandoffSender | undefined;
}

interface Proc extends HandoffTarget {
  conn: SeqpacketSocket | undefined;
}

export class WorkerProcesses {
  private readonly procs = new Map<string, Proc>();
  private readonly timers = new Map<string, TimerHandle>();
  private queryId = 0;
  private readonly queries = new Map<number, { worker: string; resolve(s: WorkerState | undefined): void }>();
  /** Hand-off channels made ahead of forks (a pair takes a loop turn to make; a fork takes one at once). */
  private readonly pairs: HandoffPair[] = [];
  private pairSeq = 0;
  private making = 0;
  private wantPairs = 0;
  private closed = false;

  constructor(
    private readonly c: WorkerProcessesComponents,
    private readonly init: WorkerProcessesInit,
  ) {}

  /**
   * Makes `n` hand-off channels ahead (resolves when they are ready) and keeps that many in reserve: each fork takes
   * one and another is made. A fork that finds none (a burst of forks) uses Node's IPC channel for TCP.
   */
  async prepareHandoff(n: number): Promise<void> {
    const dir = this.init.handoffDir?.();
    if (dir === undefined || this.closed) return;
    this.wantPairs = n;
    const make: Promise<void>[] = [];
    // makePair counts itself in `making` before its first await
    while (this.pairs.length + this.making < this.wantPairs) make.push(this.makePair(dir));
    await Promise.all(make);
  }

  private async makePair(dir: string): Promise<void> {
    this.making++;
    try {
      const pair = await createHandoffPair(path.join(dir, `handoff-${++this.pairSeq}.sock`));
      if (this.closed) {
        pair.primary.close();
        pair.worker.close();
      } else this.pairs.push(pair);
    } catch (err) {
      this.c.logger.warn({ err }, 'TCP hand-off channel not made: the next worker gets TCP over Node IPC');
    } finally {
      this.making--;
    }
  }

  /** No more channels; the reserve closed (after shutdown). */
  closeHandoff(): void {
    this.closed = true;
    for (const p of this.pairs.splice(0)) {
      p.primary.close();
      p.worker.close();
    }
  }

  fork(id: string): number {
    const pair = this.pairs.shift();
    if (pair) void this.prepareHandoff(this.wantPairs);
    const child = fork(this.c.workerEntry, [], {
      // the hand-off channel's worker end becomes the worker's descriptor HANDOFF_FD
      stdio: pair
        ? ['ignore', 'inherit', 'inherit', 'ipc', pair.worker as unknown as 'pipe']
        : ['ignore', 'inherit', 'inherit', 'ipc'],
      // JSON: every message is plain JSON, and it costs less per message than V8's serializer (see IPC_SERIALIZATION)
      serialization: IPC_SERIALIZATION,
      // workers run the built JS: do not inherit loader flags (e.g. a test runner's source conditions)
      execArgv: [],
      env: { ...process.env },
    });
    // the worker has its copy now (or the fork failed): ours is not needed either way
    pair?.worker.close();
    const handoff = pair && child.pid !== undefined ? new HandoffSender(pair.primary) : undefined;
    if (pair && !handoff) pair.primary.close();
    this.procs.set(id, { child, conn: undefined, handoff });
    child.on('message', (m: FromWorker) => this.onMessage(id, m));
    child.on('exit', (code, signal) => this.onExit(id, code, signal));
    child.on('error', (err) => this.c.logger.warn({ err, worker: id }, 'worker process error'));
    const init = this.init.initMessage(id);
    this.send(id, handoff ? { ...init, handoffFd: HANDOFF_FD } : init);
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

  /** Where a TCP connection for the worker goes (the same object for the worker's life). */
  target(id: string): HandoffTarget | undefined {
    return this.procs.get(id);
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
    p?.handoff?.close();
    const conn = p?.conn;
    // never destroy a seqpacket socket from inside one of its handlers (node-unix-socket aborts): defer
    if (conn) setImmediate(() => conn.destroy());
    this.c.poolEvent({ type: 'exited', id, code, signal });
  }
}
