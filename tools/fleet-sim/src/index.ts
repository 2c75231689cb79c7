/**
 * @switchyard/fleet-sim: many simulated conference servers (real server agents: registry lease, load publishing,
 * HTTP keep-alive endpoint) for the scheduler's tests and benchmarks.
 *
 * @example
 * ```ts
 * const fleet = new FleetSim({ store, clock: systemClock }, { count: 50, capacity: 500, regions: ['eu', 'us'] });
 * await fleet.start();
 * // ... run schedulers against the same registry ...
 * await fleet.stop();
 * ```
 * As a process: the `fleet-sim` bin (`--help`); `startFleetProcess` / `startSchedulerProcess` start a fleet and
 * schedulers as processes, for tests and benchmarks.
 */
export * from './fleet.js';
export * from './processes.js';
