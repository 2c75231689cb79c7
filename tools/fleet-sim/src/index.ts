/**
 * @switchyard/fleet-sim: fleet simulator: many conference-server agents for tests and benchmarks
 */
export {};
