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
 * As a process: `node tools/fleet-sim/dist/main.js --redis redis://127.0.0.1:6379 --count 50` (see `--help`).
 */
export * from './fleet.js';
