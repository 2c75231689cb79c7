/**
 * @switchyard/launch: local processes for tests, benchmarks and tools, each stopped by its pid — a private
 * `redis-server`, a workspace package's program through the `bin` of its package.json, SIPp runs — plus free ports
 * (with a retry when a port is taken before the process binds it) and bounded polling. Tests reach all of it
 * through `@switchyard/testing`; network namespaces through {@link NetnsLab} (C11) and a whole POP in them through {@link NetnsPop} (C13); apps' and libs' sources may not import it (lint).
 *
 * @example
 * ```ts
 * const redis = await startRedisServer({ persistence: 'aof' });
 * const scheduler = spawnBin('@switchyard/global-scheduler', ['--redis', redis.url, '--port', '0']);
 * try { ... } finally { await scheduler.stop(); await redis.stop(); }
 * ```
 */
export * from './errors.js';
export * from './ports.js';
export * from './wait.js';
export * from './processes.js';
export * from './redis-server.js';
export * from './redis-cluster.js';
export * from './bin.js';
export * from './sipp.js';
export * from './netns.js';
export * from './netns-pop.js';
export * from './route-agent.js';
