/**
 * @switchyard/bench: benchmarks of Switchyard against its baselines. Run them with
 * `node tools/bench/dist/main.js <benchmark>` (`--help` lists them).
 *
 * @example
 * ```ts
 * import { runAffinityMicro, renderTable } from '@switchyard/bench';
 * console.log(renderTable(runAffinityMicro({ runs: 3, ms: 100 }).cases));
 * ```
 */
export * from './affinity-micro.js';
export { BENCHMARKS, usage } from './main.js';
