/**
 * @switchyard/global-scheduler: tier 1, a cluster of schedulers on Redis that shares the conference workload
 * (each takes total/N of the pending set per round), places conferences atomically on the least-loaded live
 * conference server with room, keeps servers alive with probes and moves the conferences of a failed one.
 *
 * @example
 * ```ts
 * const store = new RedisScheduleStore({ redis }, { prefix: 'sy' });
 * const scheduler = new Scheduler(
 *   { store, registry, clock: systemClock },
 *   { id: 'sched-1', address: '127.0.0.1:8080' },
 * );
 * await scheduler.start();
 * ```
 * As a process: `node apps/global-scheduler/dist/main.js --help`.
 */
export * from './errors.js';
export * from './settings.js';
export * from './share.js';
export * from './scheduler.js';
export * from './app.js';
export * from './config.js';
export * from './api/api.js';
export * from './round/round-machine.js';
export * from './keepalive/keepalive.js';
export * from './keepalive/http-probe.js';
export * from './keepalive/probe.js';
export * from './keepalive/sip-options-probe.js';
export * from './store/redis-errors.js';
export * from './redis-clients.js';
export * from './store/schedule-store.js';
export * from './store/memory-schedule-store.js';
export * from './store/redis-schedule-store.js';
export * from './store/region-partitioned-store.js';
export { pickServer } from './store/pick.js';
export { SCHEDULE_SCRIPTS } from './store/lua.js';
