/**
 * @switchyard/bench: benchmarks of Switchyard against its baselines
 */
export {};
