/**
 * A small process supervisor for the local stack: starts components in order, waits until each is ready (bounded),
 * prefixes their output with their name, restarts one that dies (with backoff, a bounded number of times a minute),
 * and stops them in reverse order by pid (SIGTERM, then SIGKILL after a grace period).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { type Clock, type Logger, SwitchyardError, systemClock } from '@switchyard/core';

export interface ComponentSpec {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Resolves true once the component serves; polled until `readyTimeoutMs`. */
  ready: () => Promise<boolean>;
  readyTimeoutMs?: number;
  /** What to show the operator once it is ready (URLs, example commands). */
  describe?: string[];
}

export const StackErrors = {
  STACK_ERR_NOT_READY: 'a component did not become ready in time, or exited while starting',
  STACK_ERR_START: 'a component could not be started (command missing?)',
} as const;
export class StackError extends SwitchyardError<keyof typeof StackErrors> {}

interface Running {
  spec: ComponentSpec;
  child: ChildProcess;
  restarts: number[];
  stopping: boolean;
}

export interface SupervisorInit {
  /** Grace period between SIGTERM and SIGKILL when stopping. */
  stopGraceMs: number;
  /** Most restarts of one component within a minute before it is left down. */
  maxRestartsPerMinute: number;
  /** Delay before a restart. */
  restartDelayMs: number;
}

export const defaultSupervisorInit: SupervisorInit = {
  stopGraceMs: 10_000, // a dispatcher drains dialogs on SIGTERM; give it time
  maxRestartsPerMinute: 5, // a component crashing in a loop is left down and reported
  restartDelayMs: 500, // keeps a crash loop from spinning
};

export class Supervisor {
  private readonly running = new Map<string, Running>();
  private readonly order: string[] = [];
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly init: SupervisorInit;
  private closed = false;

  constructor(components: { logger: Logger; clock?: Clock }, init: Partial<SupervisorInit> = {}) {
    this.clock = components.clock ?? systemClock;
    this.logger = components.logger;
    this.init = { ...defaultSupervisorInit, ...init };
  }

  pids(): Record<string, number | undefined> {
    return Object.fromEntries([...this.running].map(([n, r]) => [n, r.child.pid]));
  }

  /** Starts `spec` and waits until it is ready; throws STACK_ERR_NOT_READY (and stops it) otherwise. */
  async start(spec: ComponentSpec): Promise<void> {
    const r: Running = { spec, child: this.launch(spec), restarts: [], stopping: false };
    this.running.set(spec.name, r);
    this.order.push(spec.name);
    const timeout = spec.readyTimeoutMs ?? 20_000;
    const deadline = Date.now() + timeout;
    while (!(await spec.ready().catch(() => false))) {
      if (r.child.exitCode !== null || r.child.signalCode !== null) {
        throw new StackError(
          'STACK_ERR_NOT_READY',
          `${spec.name} exited while starting (code ${r.child.exitCode})`,
        );
      }
      if (Date.now() > deadline) {
        throw new StackError('STACK_ERR_NOT_READY', `${spec.name} not ready after ${timeout} ms`);
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    this.logger.info({ component: spec.name, pid: r.child.pid }, 'ready');
  }

  private launch(spec: ComponentSpec): ChildProcess {
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.once('error', (err) => this.logger.error({ component: spec.name, err }, 'could not start'));
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      readline
        .createInterface({ input: stream })
        .on('line', (line) => process.stdout.write(`${spec.name.padEnd(12)}| ${line}\n`));
    }
    child.once('exit', (code, signal) => this.onExit(spec.name, child, code, signal));
    return child;
  }

  private onExit(
    name: string,
    child: ChildProcess,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void {
    const r = this.running.get(name);
    if (!r || r.child !== child || r.stopping || this.closed) return;
    const now = this.clock.now();
    r.restarts = r.restarts.filter((t) => now - t < 60_000);
    if (r.restarts.length >= this.init.maxRestartsPerMinute) {
      this.logger.error({ component: name, code, signal }, 'exited too often; left down');
      return;
    }
    r.restarts.push(now);
    this.logger.warn(
      { component: name, code, signal, delayMs: this.init.restartDelayMs },
      'exited; restarting',
    );
    this.clock.setTimeout(() => {
      if (!this.closed && !r.stopping) r.child = this.launch(r.spec);
    }, this.init.restartDelayMs);
  }

  /** Stops every component, last started first, by pid. */
  async stop(): Promise<void> {
    this.closed = true;
    for (const name of [...this.order].reverse()) {
      const r = this.running.get(name);
      if (!r) continue;
      r.stopping = true;
      const { child } = r;
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const gone = new Promise<void>((res) => child.once('exit', () => res()));
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), this.init.stopGraceMs);
      await gone;
      clearTimeout(force);
      this.logger.info({ component: name, pid: child.pid }, 'stopped');
    }
  }
}
