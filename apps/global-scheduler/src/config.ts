/** The scheduler process's configuration: flags and env (`--help`) from the one declaration, validated, frozen. */
import fs from 'node:fs';
import { ConfigError } from '@switchyard/core';
import { parseFallbacks, SchedulerProcessSettings, type SchedulerProcessConfig } from './settings.js';

export type SchedulerConfig = SchedulerProcessConfig & {
  /** The bearer token, from --token or --token-file. */
  token: string;
  fallbackMap: Readonly<Record<string, string[]>>;
  /** Cluster seed nodes / sentinels, comma lists split. */
  clusterNodes: readonly { host: string; port: number }[];
  sentinelNodes: readonly { host: string; port: number }[];
};

export type LoadResult = { help: true; text: string } | { help: false; config: Readonly<SchedulerConfig> };

/** Flags > env > defaults. Throws CORE_ERR_USAGE on an unknown flag, a ConfigError naming the bad field. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): LoadResult {
  const r = SchedulerProcessSettings.load(argv, env);
  if (r.help) return r;
  return { help: false, config: completeConfig(r.config) };
}

/** Resolves the token file and splits the lists of a validated config (tests build one with `parse`). */
export function completeConfig(base: Readonly<SchedulerProcessConfig>): Readonly<SchedulerConfig> {
  let token = base.token;
  if (!token && base.tokenFile) {
    try {
      token = fs.readFileSync(base.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new ConfigError('tokenFile', `cannot read: ${(err as Error).message}`);
    }
  }
  if (!token || token.length < 8)
    throw new ConfigError(
      'token',
      'a bearer token of at least 8 characters is required (--token or --token-file)',
    );
  if (base.redisCluster.length && base.redisSentinels.length)
    throw new ConfigError('redisCluster', 'give either --redis-cluster or --redis-sentinels, not both');
  return Object.freeze({
    ...base,
    token,
    fallbackMap: Object.freeze(parseFallbacks(base.fallbacks)),
    clusterNodes: Object.freeze(hostPorts(base.redisCluster)),
    sentinelNodes: Object.freeze(hostPorts(base.redisSentinels)),
  });
}

/** `host:port` entries (repeated, or comma lists) as ioredis seeds. */
export function hostPorts(list: readonly string[]): { host: string; port: number }[] {
  return list
    .flatMap((s) => s.split(','))
    .map((s) => {
      const i = s.lastIndexOf(':');
      return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
    });
}
