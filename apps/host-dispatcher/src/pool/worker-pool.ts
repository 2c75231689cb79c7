/**
 * The worker pool as a pure state machine: fed what happened to the worker processes (forked, said ready, exited,
 * opened or closed a dialog, a timer fired, an operator asked for a drain) and returning what to do (fork, kill,
 * tell a worker to drain, arm or disarm a timer, put a worker in or out of the routing queue). No processes, no
 * sockets, no timers of its own: {@link WorkerProcesses} executes the actions, and the tests call {@link handle}
 * with a manual clock and read the actions back.
 *
 *   starting ──ready──▶ ready ──drain──▶ draining ──dialogs 0 / drain deadline──▶ stopping ──exit──▶ (gone)
 *   starting ──ready──▶ spare ──promote (crash, drain, scale-up)──▶ ready
 *   ready ──exit (not asked)──▶ (gone) + crash: a spare is promoted at once, else a fork after the crash backoff
 *   starting ──start deadline──▶ stopping (SIGKILL) + start-failed
 */
import type { Clock } from '@switchyard/core';

export type WorkerStatus = 'starting' | 'spare' | 'ready' | 'draining' | 'stopping';

/** Timers the pool arms; each fires back as a `timer` event with the same name (and worker id where it has one). */
export type PoolTimer =
  /** A worker must be ready by then ({@link PoolInit.workerStartTimeoutMs}). */
  | 'start-deadline'
  /** A draining worker is stopped by then even with dialogs ({@link PoolInit.drainTimeoutMs}). */
  | 'drain-deadline'
  /** A worker sent SIGTERM is sent SIGKILL by then ({@link PoolInit.killGraceMs}). */
  | 'kill-deadline'
  /** After a burst of crashes, the replacement is forked then ({@link crashBackoffMs}). */
  | 'crash-backoff'
  /** A spare died: another is forked then ({@link PoolInit.spareRetryMs}). */
  | 'spare-retry'
  /** Shutdown: dialogs may finish until then ({@link PoolInit.drainTimeoutMs}). */
  | 'shutdown-deadline';

export type PoolEvent =
  | { type: 'start' }
  /** The worker's IPC channel said `ready`. */
  | { type: 'ipc-ready'; id: string }
  /** The worker's seqpacket connection said hello (either order with `ipc-ready`). */
  | { type: 'connected'; id: string }
  | { type: 'exited'; id: string; code: number | null; signal: string | null }
  | { type: 'dialog-opened'; id: string }
  | { type: 'dialog-closed'; id: string }
  | { type: 'timer'; timer: PoolTimer; id?: string }
  /** Operator: no new conferences for this worker; it stops when its dialogs end (or at the drain deadline). */
  | { type: 'drain'; id: string }
  /** Operator: stop this worker now (its dialogs are lost) and start a replacement first. */
  | { type: 'restart'; id: string }
  /** Every routable worker is above the load threshold (the router says so): one more if allowed. */
  | { type: 'scale-up' }
  /** SIGTERM: no new conferences anywhere; dialogs may finish until the shutdown deadline; then every worker stops. */
  | { type: 'shutdown' };

export type PoolAction =
  | { type: 'fork'; id: string; spare: boolean }
  /** Put the worker in the routing queue (it takes new conferences). */
  | { type: 'route-up'; id: string }
  /** Take it out of the queue; what it holds stays bound to it. */
  | { type: 'route-down'; id: string }
  /** It is gone: forget its bindings (its conferences re-home on their next request). */
  | { type: 'route-forget'; id: string; crashed: boolean; code: number | null; signal: string | null }
  /** Tell the worker to drain (answer in-dialog requests, refuse new dialogs). */
  | { type: 'send-drain'; id: string }
  | { type: 'kill'; id: string; signal: 'SIGTERM' | 'SIGKILL' }
  | { type: 'arm'; timer: PoolTimer; id?: string; ms: number }
  | { type: 'disarm'; timer: PoolTimer; id?: string }
  | { type: 'ready'; id: string; spare: boolean }
  | { type: 'promoted'; id: string }
  | { type: 'start-failed'; id: string }
  | { type: 'crashed'; id: string; backoffMs: number }
  /** Dispatcher-wide: refuse new conferences. */
  | { type: 'close-for-new' }
  /** Shutdown finished: every worker has exited. */
  | { type: 'stopped' };

export interface PoolInit {
  /** Active workers kept at least. */
  minWorkers: number;
  /** Hot spares kept (started, connected, taking no traffic). */
  spareWorkers: number;
  /** Active workers at most (spares not counted). */
  maxWorkers: number;
  /** A worker must be ready within this (ms) after its fork. */
  workerStartTimeoutMs: number;
  /** A draining worker (or the whole pool on shutdown) lets dialogs finish for this long (ms). */
  drainTimeoutMs: number;
  /** SIGTERM, then SIGKILL after this (ms) if the worker has not exited. */
  killGraceMs: number;
  /** Crashes closer together than this (ms) count as a burst and back off. */
  crashBurstWindowMs: number;
  /** First backoff of a burst (ms); doubled per crash in the burst. */
  crashBackoffMinMs: number;
  /** Backoff never longer than this (ms). */
  crashBackoffMaxMs: number;
  /** A spare that died is replaced after this (ms), so a spare that cannot start does not fork in a loop. */
  spareRetryMs: number;
}

/** The pool's timing defaults (the counts come from the dispatcher's settings). */
export const POOL_TIMING_DEFAULTS = {
  /** Forking Node and loading the worker takes ~100 ms idle; 10 s tolerates a loaded 2-core machine. */
  workerStartTimeoutMs: 10_000,
  /** Dialogs of a draining worker get 30 s, longer than a transaction (64·T1 = 32 s) would be pointless. */
  drainTimeoutMs: 30_000,
  /** A worker exits within ms of SIGTERM; 3 s covers a stuck event loop before SIGKILL. */
  killGraceMs: 3_000,
  /** Two crashes within 2 s are a burst (a bad message or a bad deploy), not bad luck. */
  crashBurstWindowMs: 2_000,
  /** First backoff in a burst. */
  crashBackoffMinMs: 100,
  /** Longest backoff: a crash loop forks at most one worker per 5 s. */
  crashBackoffMaxMs: 5_000,
  /** Replacement delay for a dead spare. */
  spareRetryMs: 100,
} as const;

/**
 * The backoff before forking a crashed worker's replacement: none for an isolated crash, else double the last one
 * within [min, max]. Pure: `(sinceLastCrashMs, lastBackoffMs) → ms`.
 */
export function crashBackoffMs(
  sinceLastCrashMs: number,
  lastBackoffMs: number,
  init: Pick<PoolInit, 'crashBurstWindowMs' | 'crashBackoffMinMs' | 'crashBackoffMaxMs'>,
): number {
  if (sinceLastCrashMs >= init.crashBurstWindowMs) return 0;
  return Math.min(init.crashBackoffMaxMs, Math.max(init.crashBackoffMinMs, lastBackoffMs * 2));
}

export interface PoolWorker {
  readonly id: string;
  status: WorkerStatus;
  /** Forked as a spare and not promoted yet. */
  spare: boolean;
  ipcReady: boolean;
  connected: boolean;
  /** We stop it on purpose (drain, restart, shutdown, start deadline): its exit is not a crash. */
  retiring: boolean;
  dialogs: number;
  readonly forkedAt: number;
}

export type PoolPhase = 'new' | 'running' | 'shutting-down' | 'stopped';

export class WorkerPool {
  private readonly workers = new Map<string, PoolWorker>();
  private nextId = 1;
  private phase: PoolPhase = 'new';
  private lastCrashAt = Number.NEGATIVE_INFINITY;
  private lastBackoffMs = 0;
  /** True while the shutdown still lets dialogs finish (before the deadline or the last dialog). */
  private draining = false;
  private readonly clock: Pick<Clock, 'now'>;

  constructor(
    components: { clock: Pick<Clock, 'now'> },
    private readonly init: Readonly<PoolInit>,
  ) {
    this.clock = components.clock;
  }

  get state(): PoolPhase {
    return this.phase;
  }

  get(id: string): Readonly<PoolWorker> | undefined {
    return this.workers.get(id);
  }

  list(): readonly Readonly<PoolWorker>[] {
    return [...this.workers.values()];
  }

  count(status: WorkerStatus): number {
    let n = 0;
    for (const w of this.workers.values()) if (w.status === status) n++;
    return n;
  }

  /** Active workers that count toward the minimum: starting (not spare) or ready. */
  get liveActive(): number {
    let n = 0;
    for (const w of this.workers.values())
      if (!w.spare && (w.status === 'starting' || w.status === 'ready')) n++;
    return n;
  }

  handle(e: PoolEvent): PoolAction[] {
    const out: PoolAction[] = [];
    switch (e.type) {
      case 'start':
        if (this.phase !== 'new') return out;
        this.phase = 'running';
        for (let i = 0; i < this.init.minWorkers; i++) this.fork(false, out);
        for (let i = 0; i < this.init.spareWorkers; i++) this.fork(true, out);
        return out;
      case 'ipc-ready':
      case 'connected': {
        const w = this.workers.get(e.id);
        if (!w) return out;
        if (e.type === 'ipc-ready') w.ipcReady = true;
        else w.connected = true;
        if (w.status === 'starting' && w.ipcReady && w.connected) this.becomeReady(w, out);
        return out;
      }
      case 'exited':
        this.exited(e.id, e.code, e.signal, out);
        return out;
      case 'dialog-opened': {
        const w = this.workers.get(e.id);
        if (w) w.dialogs++;
        return out;
      }
      case 'dialog-closed': {
        const w = this.workers.get(e.id);
        if (!w) return out;
        w.dialogs = Math.max(0, w.dialogs - 1);
        if (w.dialogs > 0) return out;
        if (this.phase === 'shutting-down') {
          if (this.draining) this.maybeFinishDrain(out);
        } else if (w.status === 'draining') {
          this.stop(w, out);
        }
        return out;
      }
      case 'timer':
        this.timer(e.timer, e.id, out);
        return out;
      case 'drain':
        this.drain(e.id, out);
        return out;
      case 'restart': {
        const w = this.workers.get(e.id);
        if (!w || w.status === 'stopping') return out;
        // the replacement first, so the pool never dips below its minimum
        if (this.phase === 'running') this.addActive(out);
        this.stop(w, out);
        return out;
      }
      case 'scale-up':
        if (this.phase !== 'running' || this.liveActive >= this.init.maxWorkers) return out;
        for (const w of this.workers.values()) if (w.status === 'starting' && !w.spare) return out;
        this.addActive(out);
        return out;
      case 'shutdown':
        this.shutdown(out);
        return out;
    }
  }

  private fork(spare: boolean, out: PoolAction[]): string {
    const id = `w${this.nextId++}`;
    this.workers.set(id, {
      id,
      status: 'starting',
      spare,
      ipcReady: false,
      connected: false,
      retiring: false,
      dialogs: 0,
      forkedAt: this.clock.now(),
    });
    out.push(
      { type: 'fork', id, spare },
      { type: 'arm', timer: 'start-deadline', id, ms: this.init.workerStartTimeoutMs },
    );
    return id;
  }

  private becomeReady(w: PoolWorker, out: PoolAction[]): void {
    out.push({ type: 'disarm', timer: 'start-deadline', id: w.id });
    if (this.phase !== 'running') {
      // started while we shut down: it takes nothing and stops with the rest
      w.status = 'ready';
      out.push({ type: 'ready', id: w.id, spare: w.spare });
      if (this.phase === 'shutting-down' && !this.draining) this.stop(w, out);
      else out.push({ type: 'send-drain', id: w.id });
      return;
    }
    w.status = w.spare ? 'spare' : 'ready';
    if (!w.spare) out.push({ type: 'route-up', id: w.id });
    out.push({ type: 'ready', id: w.id, spare: w.spare });
  }

  /** One more active worker: a ready spare is promoted at once (and a new spare forked), else a fresh fork. */
  private addActive(out: PoolAction[]): void {
    for (const w of this.workers.values()) {
      if (w.spare && w.status === 'spare') {
        w.spare = false;
        w.status = 'ready';
        out.push({ type: 'route-up', id: w.id }, { type: 'promoted', id: w.id });
        this.ensureSpares(out);
        return;
      }
    }
    this.fork(false, out);
  }

  private ensureSpares(out: PoolAction[]): void {
    if (this.phase !== 'running') return;
    let spares = 0;
    for (const w of this.workers.values())
      if (w.spare && (w.status === 'starting' || w.status === 'spare')) spares++;
    for (; spares < this.init.spareWorkers; spares++) this.fork(true, out);
  }

  private drain(id: string, out: PoolAction[]): void {
    const w = this.workers.get(id);
    if (!w || (w.status !== 'ready' && w.status !== 'starting')) return;
    const wasActive = !w.spare;
    w.status = 'draining';
    out.push({ type: 'route-down', id }, { type: 'send-drain', id });
    // keep the pool at its minimum while this one drains
    if (this.phase === 'running' && wasActive && this.liveActive < this.init.minWorkers) this.addActive(out);
    if (w.dialogs === 0) this.stop(w, out);
    else out.push({ type: 'arm', timer: 'drain-deadline', id, ms: this.init.drainTimeoutMs });
  }

  private stop(w: PoolWorker, out: PoolAction[]): void {
    if (w.status === 'stopping') return;
    if (w.status === 'draining') out.push({ type: 'disarm', timer: 'drain-deadline', id: w.id });
    if (w.status === 'starting') out.push({ type: 'disarm', timer: 'start-deadline', id: w.id });
    if (w.status === 'ready') out.push({ type: 'route-down', id: w.id });
    w.retiring = true;
    w.status = 'stopping';
    out.push(
      { type: 'kill', id: w.id, signal: 'SIGTERM' },
      { type: 'arm', timer: 'kill-deadline', id: w.id, ms: this.init.killGraceMs },
    );
  }

  private timer(timer: PoolTimer, id: string | undefined, out: PoolAction[]): void {
    const w = id === undefined ? undefined : this.workers.get(id);
    switch (timer) {
      case 'start-deadline':
        if (w?.status === 'starting') {
          out.push({ type: 'start-failed', id: w.id });
          w.retiring = true;
          w.status = 'stopping';
          out.push({ type: 'kill', id: w.id, signal: 'SIGKILL' });
        }
        return;
      case 'drain-deadline':
        if (w?.status === 'draining') this.stop(w, out);
        return;
      case 'kill-deadline':
        if (w?.status === 'stopping') out.push({ type: 'kill', id: w.id, signal: 'SIGKILL' });
        return;
      case 'crash-backoff':
        if (this.phase === 'running' && this.liveActive < Math.max(this.init.minWorkers, 1))
          this.addActive(out);
        return;
      case 'spare-retry':
        this.ensureSpares(out);
        return;
      case 'shutdown-deadline':
        if (this.phase === 'shutting-down' && this.draining) this.finishDrain(out);
        return;
    }
  }

  private exited(id: string, code: number | null, signal: string | null, out: PoolAction[]): void {
    const w = this.workers.get(id);
    if (!w) return;
    this.workers.delete(id);
    for (const t of ['start-deadline', 'drain-deadline', 'kill-deadline'] as const)
      out.push({ type: 'disarm', timer: t, id });
    const crashed = !w.retiring && this.phase === 'running';
    out.push({ type: 'route-forget', id, crashed, code, signal });
    if (this.phase === 'shutting-down') {
      if (this.draining) this.maybeFinishDrain(out);
      else if (this.workers.size === 0) this.stopped(out);
      return;
    }
    if (this.phase !== 'running') return;
    if (w.retiring) {
      if (this.liveActive < this.init.minWorkers) this.addActive(out);
      return;
    }
    if (w.spare) {
      out.push({ type: 'arm', timer: 'spare-retry', ms: this.init.spareRetryMs });
      return;
    }
    // a crash: replace it at once, backing off only if crashes come in a burst
    const now = this.clock.now();
    this.lastBackoffMs = crashBackoffMs(now - this.lastCrashAt, this.lastBackoffMs, this.init);
    this.lastCrashAt = now;
    out.push({ type: 'crashed', id, backoffMs: this.lastBackoffMs });
    // a ready spare takes over at once; a fresh fork waits out the crash backoff
    const spareReady = this.count('spare') > 0;
    if (this.lastBackoffMs > 0 && !spareReady)
      out.push({ type: 'arm', timer: 'crash-backoff', ms: this.lastBackoffMs });
    else if (this.liveActive < Math.max(this.init.minWorkers, 1)) this.addActive(out);
  }

  private shutdown(out: PoolAction[]): void {
    if (this.phase === 'new') {
      this.phase = 'stopped';
      out.push({ type: 'stopped' });
      return;
    }
    if (this.phase !== 'running') return;
    this.phase = 'shutting-down';
    this.draining = true;
    out.push({ type: 'close-for-new' }, { type: 'disarm', timer: 'crash-backoff' });
    out.push({ type: 'disarm', timer: 'spare-retry' });
    for (const w of this.workers.values()) {
      if (w.status === 'ready' || w.status === 'spare') out.push({ type: 'route-down', id: w.id });
      if (w.status !== 'stopping') out.push({ type: 'send-drain', id: w.id });
      if (w.status === 'ready' || w.status === 'spare') w.status = 'draining';
      if (w.status === 'draining') out.push({ type: 'disarm', timer: 'drain-deadline', id: w.id });
    }
    out.push({ type: 'arm', timer: 'shutdown-deadline', ms: this.init.drainTimeoutMs });
    this.maybeFinishDrain(out);
  }

  private maybeFinishDrain(out: PoolAction[]): void {
    for (const w of this.workers.values()) if (w.dialogs > 0) return;
    this.finishDrain(out);
  }

  private finishDrain(out: PoolAction[]): void {
    this.draining = false;
    out.push({ type: 'disarm', timer: 'shutdown-deadline' });
    for (const w of this.workers.values()) {
      if (w.status === 'starting') {
        out.push({ type: 'disarm', timer: 'start-deadline', id: w.id });
        w.status = 'draining';
      }
      this.stop(w, out);
    }
    if (this.workers.size === 0) this.stopped(out);
  }

  private stopped(out: PoolAction[]): void {
    this.phase = 'stopped';
    out.push({ type: 'stopped' });
  }
}
