/**
 * @switchyard/stack: the full local stack launcher (`npm start`) and the supervisor it uses.
 *
 * @example
 * ```ts
 * const sup = new Supervisor({ logger });
 * for (const c of stackComponents({ root, dir, host: '127.0.0.1', redisPort: 6390 })) await sup.start(c);
 * await sup.stop();
 * ```
 */
export * from './supervisor.js';
export * from './stack.js';
