/**
 * @switchyard/stack: the full local stack launcher (`npm start`), the topology it runs, the supervisor it uses, the
 * POP host agent, and the SIPp scenarios of the composed system (used by `e2e/` too).
 *
 * @example
 * ```ts
 * const topology = loadTopology('tools/stack/topology.default.json');
 * const plan = stackComponents({ root, dir, topology, token });
 * const sup = new Supervisor({ logger });
 * for (const c of plan.components) await sup.start(c);
 * await sup.stop();
 * ```
 */
export * from './supervisor.js';
export * from './pop-keeper.js';
export * from './topology.js';
export * from './stack.js';
export * from './host-agent.js';
export * from './scenarios.js';
export * from './smoke.js';
export * from './composed.js';
export * from './netns-stack.js';
