/**
 * Keeps the namespace POP's own processes running in `--netns`: `NetnsPop` starts each host's pop-router and
 * host-dispatcher (not the supervisor), so this restarts one that dies, as the supervisor does for the other
 * components: the same events (`exited`, `restarted` with the new pid, `ready`, `left-down`), the same delay and the
 * same bound on restarts a minute. Names are those of the loopback stack: `pop-router-<i>`, `dispatcher-<i>`.
 */
import { systemClock, type Clock, type Logger } from '@switchyard/core';
import type { NetnsPop, NetnsPopHost, NetnsPopRole, Spawned } from '@switchyard/launch';
import {
  defaultSupervisorInit,
  nextRestarts,
  type SupervisorEvent,
  type SupervisorInit,
} from './supervisor.js';

export type PopKeeperInit = Pick<SupervisorInit, 'maxRestartsPerMinute' | 'restartDelayMs'>;

/** The component name the operator sees for a host's process. */
export const popComponentName = (h: Pick<NetnsPopHost, 'index'>, role: NetnsPopRole): string =>
  `${role === 'router' ? 'pop-router' : 'dispatcher'}-${h.index}`;

export class PopKeeper {
  private stopped = false;
  private readonly restarts = new Map<string, number[]>();
  private readonly clock: Clock;
  private readonly init: PopKeeperInit;

  constructor(
    private readonly components: {
      pop: Pick<NetnsPop, 'hosts' | 'restart'>;
      logger: Logger;
      events?: (e: SupervisorEvent) => void;
      clock?: Clock;
    },
    init: Partial<PopKeeperInit> = {},
  ) {
    this.clock = components.clock ?? systemClock;
    this.init = {
      maxRestartsPerMinute: init.maxRestartsPerMinute ?? defaultSupervisorInit.maxRestartsPerMinute,
      restartDelayMs: init.restartDelayMs ?? defaultSupervisorInit.restartDelayMs,
    };
  }

  /** Watches every host's router and dispatcher from now on. */
  start(): void {
    for (const h of this.components.pop.hosts)
      for (const role of ['router', 'dispatcher'] as const) this.watch(h, role);
  }

  /** No restart from now on (call it before stopping the POP: the processes it stops are not restarted). */
  stop(): void {
    this.stopped = true;
  }

  private emit(e: SupervisorEvent): void {
    this.components.events?.(e);
  }

  private watch(h: NetnsPopHost, role: NetnsPopRole): void {
    const proc = h[role];
    void proc.exited.then(({ code, signal }) => this.onExit(h, role, proc, code, signal));
  }

  private onExit(
    h: NetnsPopHost,
    role: NetnsPopRole,
    proc: Spawned,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void {
    if (this.stopped || h[role] !== proc) return;
    const name = popComponentName(h, role);
    const restarts = nextRestarts(
      this.restarts.get(name) ?? [],
      this.clock.now(),
      this.init.maxRestartsPerMinute,
    );
    this.emit({ type: 'exited', name, pid: proc.pid, code, signal });
    if (!restarts) {
      this.components.logger.error({ component: name, code, signal }, 'exited too often; left down');
      this.emit({ type: 'left-down', name });
      return;
    }
    this.restarts.set(name, restarts);
    this.components.logger.warn({ component: name, code, signal }, 'exited; restarting');
    this.clock.setTimeout(() => {
      if (this.stopped) return;
      const ready = this.components.pop.restart(h, role);
      if (h[role] === proc) {
        // refused before it started anything (the POP is being disposed)
        ready.catch((err: unknown) => this.components.logger.warn({ component: name, err }, 'not restarted'));
        return;
      }
      this.emit({ type: 'restarted', name, pid: h[role].pid });
      this.watch(h, role); // dying while it starts is an exit like any other
      ready.then(
        (p) => {
          if (!this.stopped && h[role] === p) this.emit({ type: 'ready', name, pid: p.pid });
        },
        (err: unknown) => this.components.logger.warn({ component: name, err }, 'restarted, not ready'),
      );
    }, this.init.restartDelayMs);
  }
}
