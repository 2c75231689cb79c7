/**
 * @switchyard/bench: benchmarks of Switchyard against its baselines, run as
 * `node tools/bench/dist/main.js <subcommand>` (`--help` lists them); results go to `docs/benchmarks/`.
 *
 * @example
 * ```sh
 * node tools/bench/dist/main.js affinity-micro --runs 3
 * node tools/bench/dist/main.js gossip-convergence --sizes 10,100,1000
 * ```
 */
export * from './affinity-micro.js';
export * from './registry-bench.js';
export * from './end-to-end-bench.js';
export { SUBCOMMANDS, main, usage } from './main.js';
export type { Subcommand } from './subcommand.js';
export {
  measureCluster,
  parseOptions,
  renderReport,
  runConvergence,
  type ConvergenceOptions,
  type PointResult,
} from './gossip-convergence.js';
export { renderSvg, type Panel, type Series } from './svg-plot.js';
export {
  DISPATCHER_SECTIONS,
  dispatcherBenchMain,
  renderMarkdown as renderDispatcherMarkdown,
  type DispatcherBenchReport,
  type DispatcherSection,
} from './dispatcher-bench.js';
export * from './pop-convergence.js';
export * from './pop-forward.js';
export * from './pop-calls.js';
export * from './pop-forward-micro.js';
