/** The worker pool state machine, fed events with a manual clock; no processes. */
import { describe, expect, it } from 'vitest';
import { ManualClock, type TimerHandle } from '@switchyard/core';
import {
  POOL_TIMING_DEFAULTS,
  WorkerPool,
  crashBackoffMs,
  type PoolAction,
  type PoolEvent,
  type PoolInit,
} from '../src/index.js';

/** The pool plus what its adapter does with timers: arm them on the manual clock and feed them back. */
function driver(init: Partial<PoolInit> = {}) {
  const clock = new ManualClock();
  const pool = new WorkerPool(
    { clock },
    { ...POOL_TIMING_DEFAULTS, minWorkers: 2, spareWorkers: 1, maxWorkers: 3, ...init },
  );
  const timers = new Map<string, TimerHandle>();
  /** Every action but timer bookkeeping, in order, since the last `take()`. */
  let seen: PoolAction[] = [];
  const feed = (e: PoolEvent): PoolAction[] => {
    const out = pool.handle(e);
    for (const a of out) {
      if (a.type === 'arm') {
        const key = `${a.timer}:${a.id ?? ''}`;
        clock.clearTimeout(timers.get(key));
        timers.set(
          key,
          clock.setTimeout(() => {
            timers.delete(key);
            feed(
              a.id === undefined
                ? { type: 'timer', timer: a.timer }
                : { type: 'timer', timer: a.timer, id: a.id },
            );
          }, a.ms),
        );
      } else if (a.type === 'disarm') {
        const key = `${a.timer}:${a.id ?? ''}`;
        clock.clearTimeout(timers.get(key));
        timers.delete(key);
      } else {
        seen.push(a);
      }
    }
    return out;
  };
  const take = () => {
    const s = seen;
    seen = [];
    return s;
  };
  const ready = (...ids: string[]) => {
    for (const id of ids) {
      feed({ type: 'ipc-ready', id });
      feed({ type: 'connected', id });
    }
  };
  const exit = (id: string, signal: string | null = 'SIGKILL') =>
    feed({ type: 'exited', id, code: null, signal });
  return { clock, pool, feed, take, ready, exit, armed: () => [...timers.keys()].sort() };
}

const started = () => {
  const d = driver();
  d.feed({ type: 'start' });
  d.ready('w1', 'w2', 'w3');
  d.take();
  return d;
};

describe('crashBackoffMs', () => {
  const init = POOL_TIMING_DEFAULTS;
  it.each([
    // since last crash, last backoff → backoff
    [10_000, 0, 0],
    [2_000, 400, 0],
    [1_999, 0, 100],
    [500, 100, 200],
    [500, 3_000, 5_000],
    [500, 5_000, 5_000],
  ])('%d ms after a crash that backed off %d ms: %d ms', (since, last, want) => {
    expect(crashBackoffMs(since, last, init)).toBe(want);
  });
});

describe('WorkerPool', () => {
  it('forks the minimum and the spares, each with a start deadline; ready needs the IPC and the seqpacket hello', () => {
    const d = driver();
    expect(d.feed({ type: 'start' })).toEqual([
      { type: 'fork', id: 'w1', spare: false },
      { type: 'arm', timer: 'start-deadline', id: 'w1', ms: 10_000 },
      { type: 'fork', id: 'w2', spare: false },
      { type: 'arm', timer: 'start-deadline', id: 'w2', ms: 10_000 },
      { type: 'fork', id: 'w3', spare: true },
      { type: 'arm', timer: 'start-deadline', id: 'w3', ms: 10_000 },
    ]);
    d.take();
    // either order
    expect(d.feed({ type: 'connected', id: 'w2' })).toEqual([]);
    d.feed({ type: 'ipc-ready', id: 'w2' });
    d.feed({ type: 'ipc-ready', id: 'w1' });
    d.feed({ type: 'connected', id: 'w1' });
    d.ready('w3');
    expect(d.take()).toEqual([
      { type: 'route-up', id: 'w2' },
      { type: 'ready', id: 'w2', spare: false },
      { type: 'route-up', id: 'w1' },
      { type: 'ready', id: 'w1', spare: false },
      // a spare is ready but takes no traffic
      { type: 'ready', id: 'w3', spare: true },
    ]);
    expect(d.pool.get('w3')?.status).toBe('spare');
    expect(d.armed()).toEqual([]);
  });

  it('kills a worker that misses its start deadline and forks another', () => {
    const d = driver({ minWorkers: 1, spareWorkers: 0 });
    d.feed({ type: 'start' });
    d.take();
    d.clock.advance(9_999);
    expect(d.take()).toEqual([]);
    d.clock.advance(1);
    expect(d.take()).toEqual([
      { type: 'start-failed', id: 'w1' },
      { type: 'kill', id: 'w1', signal: 'SIGKILL' },
    ]);
    d.exit('w1');
    expect(d.take()).toEqual([
      { type: 'route-forget', id: 'w1', crashed: false, code: null, signal: 'SIGKILL' },
      { type: 'fork', id: 'w2', spare: false },
    ]);
  });

  it('promotes the spare at once when a worker crashes, and forks a new spare', () => {
    const d = started();
    d.exit('w1');
    expect(d.take()).toEqual([
      { type: 'route-forget', id: 'w1', crashed: true, code: null, signal: 'SIGKILL' },
      { type: 'crashed', id: 'w1', backoffMs: 0 },
      { type: 'route-up', id: 'w3' },
      { type: 'promoted', id: 'w3' },
      { type: 'fork', id: 'w4', spare: true },
    ]);
  });

  it('backs off when crashes come in a burst and there is no ready spare', () => {
    const d = driver({ minWorkers: 1, spareWorkers: 0 });
    d.feed({ type: 'start' });
    d.ready('w1');
    d.take();
    d.exit('w1');
    // an isolated crash: replaced at once
    expect(d.take().map((a) => a.type)).toEqual(['route-forget', 'crashed', 'fork']);
    d.ready('w2');
    d.take();
    d.clock.advance(500);
    d.exit('w2');
    expect(d.take()).toEqual([
      { type: 'route-forget', id: 'w2', crashed: true, code: null, signal: 'SIGKILL' },
      { type: 'crashed', id: 'w2', backoffMs: 100 },
    ]);
    d.clock.advance(99);
    expect(d.take()).toEqual([]);
    d.clock.advance(1);
    expect(d.take()).toEqual([{ type: 'fork', id: 'w3', spare: false }]);
    d.ready('w3');
    d.exit('w3');
    expect(d.take().filter((a) => a.type === 'crashed')).toEqual([
      { type: 'crashed', id: 'w3', backoffMs: 200 },
    ]);
  });

  it('replaces a dead spare after the spare retry delay', () => {
    const d = started();
    d.exit('w3');
    expect(d.take()).toEqual([
      { type: 'route-forget', id: 'w3', crashed: true, code: null, signal: 'SIGKILL' },
    ]);
    d.clock.advance(POOL_TIMING_DEFAULTS.spareRetryMs);
    expect(d.take()).toEqual([{ type: 'fork', id: 'w4', spare: true }]);
  });

  it('drains a worker: out of the queue, a replacement keeps the minimum, stopped when its last dialog ends', () => {
    const d = started();
    d.feed({ type: 'dialog-opened', id: 'w1' });
    d.feed({ type: 'drain', id: 'w1' });
    expect(d.take()).toEqual([
      { type: 'route-down', id: 'w1' },
      { type: 'send-drain', id: 'w1' },
      { type: 'route-up', id: 'w3' },
      { type: 'promoted', id: 'w3' },
      { type: 'fork', id: 'w4', spare: true },
    ]);
    expect(d.pool.get('w1')?.status).toBe('draining');
    d.feed({ type: 'dialog-closed', id: 'w1' });
    expect(d.take()).toEqual([{ type: 'kill', id: 'w1', signal: 'SIGTERM' }]);
    // it does not exit within the kill grace: SIGKILL
    d.clock.advance(POOL_TIMING_DEFAULTS.killGraceMs);
    expect(d.take()).toEqual([{ type: 'kill', id: 'w1', signal: 'SIGKILL' }]);
    d.exit('w1');
    // asked to stop: not a crash, and the pool is at its minimum already
    expect(d.take()).toEqual([
      { type: 'route-forget', id: 'w1', crashed: false, code: null, signal: 'SIGKILL' },
    ]);
  });

  it('stops a draining worker at the drain deadline even with dialogs left', () => {
    const d = started();
    d.feed({ type: 'dialog-opened', id: 'w2' });
    d.feed({ type: 'drain', id: 'w2' });
    // the spare that took w2's place, replaced by a new spare (w4)
    d.ready('w4');
    d.take();
    d.clock.advance(POOL_TIMING_DEFAULTS.drainTimeoutMs - 1);
    expect(d.take()).toEqual([]);
    d.clock.advance(1);
    expect(d.take()).toEqual([{ type: 'kill', id: 'w2', signal: 'SIGTERM' }]);
    d.exit('w2', 'SIGTERM');
    expect(d.armed()).toEqual([]);
  });

  it('restarts a worker: the replacement first, then SIGTERM; its exit is no crash', () => {
    const d = started();
    d.feed({ type: 'restart', id: 'w2' });
    expect(d.take()).toEqual([
      { type: 'route-up', id: 'w3' },
      { type: 'promoted', id: 'w3' },
      { type: 'fork', id: 'w4', spare: true },
      { type: 'route-down', id: 'w2' },
      { type: 'kill', id: 'w2', signal: 'SIGTERM' },
    ]);
    d.exit('w2', 'SIGTERM');
    expect(d.take()).toEqual([
      { type: 'route-forget', id: 'w2', crashed: false, code: null, signal: 'SIGTERM' },
    ]);
  });

  it('scales up to the maximum, one starting worker at a time', () => {
    const d = driver({ minWorkers: 1, spareWorkers: 0, maxWorkers: 3 });
    d.feed({ type: 'start' });
    d.ready('w1');
    d.take();
    d.feed({ type: 'scale-up' });
    expect(d.take()).toEqual([{ type: 'fork', id: 'w2', spare: false }]);
    // w2 still starting: no second fork
    d.feed({ type: 'scale-up' });
    expect(d.take()).toEqual([]);
    d.ready('w2');
    d.feed({ type: 'scale-up' });
    d.ready('w3');
    d.take();
    d.feed({ type: 'scale-up' });
    expect(d.take()).toEqual([]);
    expect(d.pool.liveActive).toBe(3);
  });

  it('shuts down: no new conferences, dialogs finish, then every worker stops; stopped after the last exit', () => {
    const d = started();
    d.feed({ type: 'dialog-opened', id: 'w1' });
    d.feed({ type: 'shutdown' });
    expect(d.take()).toEqual([
      { type: 'close-for-new' },
      { type: 'route-down', id: 'w1' },
      { type: 'send-drain', id: 'w1' },
      { type: 'route-down', id: 'w2' },
      { type: 'send-drain', id: 'w2' },
      { type: 'route-down', id: 'w3' },
      { type: 'send-drain', id: 'w3' },
    ]);
    d.feed({ type: 'dialog-closed', id: 'w1' });
    expect(d.take()).toEqual([
      { type: 'kill', id: 'w1', signal: 'SIGTERM' },
      { type: 'kill', id: 'w2', signal: 'SIGTERM' },
      { type: 'kill', id: 'w3', signal: 'SIGTERM' },
    ]);
    d.exit('w1', 'SIGTERM');
    d.exit('w2', 'SIGTERM');
    // exits during shutdown are never crashes and fork nothing
    expect(d.take().map((a) => a.type)).toEqual(['route-forget', 'route-forget']);
    d.exit('w3', 'SIGTERM');
    expect(d.take()).toEqual([
      { type: 'route-forget', id: 'w3', crashed: false, code: null, signal: 'SIGTERM' },
      { type: 'stopped' },
    ]);
    expect(d.pool.state).toBe('stopped');
  });

  it('stops every worker at the shutdown deadline when dialogs remain', () => {
    const d = started();
    d.feed({ type: 'dialog-opened', id: 'w2' });
    d.feed({ type: 'shutdown' });
    d.take();
    d.clock.advance(POOL_TIMING_DEFAULTS.drainTimeoutMs);
    expect(d.take().filter((a) => a.type === 'kill')).toHaveLength(3);
  });

  it('shuts down at once when nothing ever started', () => {
    const d = driver();
    expect(d.feed({ type: 'shutdown' })).toEqual([{ type: 'stopped' }]);
  });
});
