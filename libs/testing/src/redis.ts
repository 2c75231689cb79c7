/**
 * A private redis-server for one test file: its own port, its own temporary dir, no persistence, stopped by pid.
 * It runs as Redis ships (keyspace notifications off: the registry detects expiry with its own sweep, not with
 * notifications). The launcher is @switchyard/launch's `startRedisServer`, shared with benchmarks and tools.
 */
import { startRedisServer, type RedisServer, type RedisServerOptions } from '@switchyard/launch';

export type TestRedis = RedisServer;

export function startRedis(
  opts: Pick<RedisServerOptions, 'host' | 'port' | 'args'> = {},
): Promise<TestRedis> {
  return startRedisServer(opts);
}
