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
  ready?: () => Promise<boolean>;
  /** Or: ready once a line of its output matches. */
  readyLine?: RegExp;
  readyTimeoutMs?: number;
  /** Start phase: components of one phase start together, after every earlier phase is ready (default 0). */
  phase?: number;
  /** What to show the operator once it is ready (URLs, example commands). */
  describe?: string[];
}

export const StackErrors = {
  STACK_ERR_NOT_READY: 'a component did not become ready in time, or exited while starting',
  STACK_ERR_START: 'a component could not be started (command missing?)',
  STACK_ERR_NETNS: '`--netns` cannot run here (not root) or its namespaces could not be made',
} as const;
export class StackError extends SwitchyardError<keyof typeof StackErrors> {}

interface Running {
  spec: ComponentSpec;
  child: ChildProcess;
  restarts: number[];
  stopping: boolean;
  /** Exited too often: not restarted any more. */
  leftDown?: boolean;
  /** Last line of output: the reason shown when it fails to start. */
  lastLine?: string;
}

/** What the operator is shown while the stack runs. */
export type SupervisorEvent =
  | { type: 'starting'; name: string; pid: number | undefined }
  | { type: 'ready'; name: string; pid: number | undefined }
  | { type: 'failed'; name: string; reason: string }
  | { type: 'exited'; name: string; pid: number | undefined; code: number | null; signal: string | null }
  | { type: 'restarted'; name: string; pid: number | undefined }
  | { type: 'left-down'; name: string }
  | { type: 'stopped'; name: string; pid: number | undefined };

export interface SupervisorInit {
  /** Grace period between SIGTERM and SIGKILL when stopping (for all components together). */
  stopGraceMs: number;
  /** Most restarts of one component within a minute before it is left down. */
  maxRestartsPerMinute: number;
  /** Delay before a restart. */
  restartDelayMs: number;
}

export const defaultSupervisorInit: SupervisorInit = {
  stopGraceMs: 8_000, // Ctrl-C must stop everything within 10 s: SIGKILL what is still up after 8
  maxRestartsPerMinute: 5, // a component crashing in a loop is left down and reported
  restartDelayMs: 500, // keeps a crash loop from spinning
};

/** Signals the process group of `child` (its pid, as it leads its group); falls back to the child alone. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

/**
 * The rule for restarting a component that died, shared by the supervisor and the netns POP's keeper: its restart
 * times within the last minute plus `now` when one more restart is allowed, undefined when it already restarted
 * `maxPerMinute` times in that minute (it is then left down).
 */
export function nextRestarts(
  times: readonly number[],
  now: number,
  maxPerMinute: number,
): number[] | undefined {
  const recent = times.filter((t) => now - t < 60_000);
  return recent.length >= maxPerMinute ? undefined : [...recent, now];
}

export class Supervisor {
  private readonly running = new Map<string, Running>();
  private readonly order: string[] = [];
  private readonly sawReadyLine = new Set<string>();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly init: SupervisorInit;
  private readonly emit: (e: SupervisorEvent) => void;
  private readonly output: (name: string, line: string) => void;
  private closed = false;

  constructor(
    components: {
      logger: Logger;
      clock?: Clock;
      events?: (e: SupervisorEvent) => void;
      /** Where a component's output lines go (default: this process's stdout, prefixed with the name). */
      output?: (name: string, line: string) => void;
    },
    init: Partial<SupervisorInit> = {},
  ) {
    this.clock = components.clock ?? systemClock;
    this.logger = components.logger;
    this.emit = components.events ?? (() => undefined);
    this.output =
      components.output ?? ((name, line) => process.stdout.write(`${name.padEnd(12)}| ${line}\n`));
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
    this.emit({ type: 'starting', name: spec.name, pid: r.child.pid });
    try {
      await this.waitReady(r);
    } catch (err) {
      this.emit({
        type: 'failed',
        name: spec.name,
        reason: err instanceof Error ? err.message : String(err),
      });
      throw err;
    }
    this.emit({ type: 'ready', name: spec.name, pid: r.child.pid });
  }

  private async waitReady(r: Running): Promise<void> {
    const { spec } = r;
    const timeout = spec.readyTimeoutMs ?? 60_000; // a shared 2-core machine under load starts a Node app in seconds
    const deadline = Date.now() + timeout;
    const isReady = async () =>
      (spec.readyLine ? this.sawReadyLine.has(spec.name) : true) &&
      (spec.ready ? await spec.ready().catch(() => false) : true);
    while (!(await isReady())) {
      // a component that exits while starting is restarted like any other (a loaded machine makes a first start
      // time out); it fails only when it is left down
      if (r.leftDown) {
        throw new StackError(
          'STACK_ERR_NOT_READY',
          `${spec.name} exited while starting, ${this.init.maxRestartsPerMinute} restarts did not help (code ${r.child.exitCode}${r.lastLine ? `: ${r.lastLine}` : ''})`,
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
      // its own process group (id = its pid): stopping it also stops what it forked (a dispatcher's workers)
      detached: true,
    });
    child.once('error', (err) => this.logger.error({ component: spec.name, err }, 'could not start'));
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      readline.createInterface({ input: stream }).on('line', (line) => {
        if (spec.readyLine?.test(line)) {
          this.sawReadyLine.add(spec.name);
        }
        const r = this.running.get(spec.name);
        if (r) r.lastLine = line.slice(0, 300);
        this.output(spec.name, line);
      });
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
    // what it forked dies with it (a dispatcher's workers hold its bound sockets: a restart could not bind)
    signalGroup(child, 'SIGKILL');
    const r = this.running.get(name);
    if (!r || r.child !== child || r.stopping || this.closed) return;
    const restarts = nextRestarts(r.restarts, this.clock.now(), this.init.maxRestartsPerMinute);
    this.emit({ type: 'exited', name, pid: child.pid, code, signal });
    if (!restarts) {
      this.logger.error({ component: name, code, signal }, 'exited too often; left down');
      this.emit({ type: 'left-down', name });
      r.leftDown = true;
      return;
    }
    r.restarts = restarts;
    this.logger.warn(
      { component: name, code, signal, delayMs: this.init.restartDelayMs },
      'exited; restarting',
    );
    this.clock.setTimeout(() => {
      if (this.closed || r.stopping) return;
      r.child = this.launch(r.spec);
      this.emit({ type: 'restarted', name, pid: r.child.pid });
    }, this.init.restartDelayMs);
  }

  /**
   * Sends `signal` to a component's process group (failure tests: `kill -9` of one host's processes). With
   * `restart: false` it stays down (as a machine that is gone) until {@link Supervisor.revive}.
   */
  kill(name: string, signal: NodeJS.Signals, opts: { restart: boolean }): number | undefined {
    const r = this.running.get(name);
    if (!r) throw new StackError('STACK_ERR_START', `no component ${name}`);
    if (!opts.restart) r.stopping = true;
    signalGroup(r.child, signal);
    return r.child.pid;
  }

  /** Starts again a component that {@link Supervisor.kill} left down, and waits until it is ready. */
  async revive(name: string): Promise<void> {
    const r = this.running.get(name);
    if (!r) throw new StackError('STACK_ERR_START', `no component ${name}`);
    r.stopping = false;
    r.leftDown = false;
    r.child = this.launch(r.spec);
    this.emit({ type: 'restarted', name, pid: r.child.pid });
    await this.waitReady(r);
  }

  /**
   * Stops every component by pid: SIGTERM to all but the first started (the store the others use) at once, SIGKILL
   * to whatever is still up when the grace period ends; then the first one the same way.
   */
  async stop(): Promise<void> {
    this.closed = true;
    const [first, ...rest] = this.order;
    const deadline = Date.now() + this.init.stopGraceMs;
    await Promise.all(rest.reverse().map((name) => this.stopOne(name, deadline)));
    if (first) await this.stopOne(first, Math.max(deadline, Date.now() + 1000));
  }

  private async stopOne(name: string, deadline: number): Promise<void> {
    const r = this.running.get(name);
    if (!r) return;
    r.stopping = true;
    const { child } = r;
    if (child.exitCode !== null || child.signalCode !== null) {
      signalGroup(child, 'SIGKILL'); // its leftovers, if any
      return;
    }
    const gone = new Promise<void>((res) => child.once('exit', () => res()));
    signalGroup(child, 'SIGTERM');
    const force = setTimeout(() => signalGroup(child, 'SIGKILL'), Math.max(0, deadline - Date.now()));
    await gone;
    clearTimeout(force);
    // what it forked and left behind (holding our pipes) goes with it
    signalGroup(child, 'SIGKILL');
    child.stdout?.destroy();
    child.stderr?.destroy();
    this.logger.info({ component: name, pid: child.pid }, 'stopped');
    this.emit({ type: 'stopped', name, pid: child.pid });
  }
}
