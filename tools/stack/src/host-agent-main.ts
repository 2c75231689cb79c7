#!/usr/bin/env node
/** `switchyard-host-agent`: registers one POP host as a conference server. See src/host-agent.ts. */
import { Type } from '@sinclair/typebox';
import {
  ConfigError,
  createLogger,
  defineSettings,
  setting,
  stopOnSignals,
  systemClock,
} from '@switchyard/core';
import {
  createRedisClient,
  hostPorts,
  SchedulerProcessSettings,
  waitReady,
} from '@switchyard/global-scheduler';
import { RedisRegistryStore } from '@switchyard/registry';
import { HostAgent } from './host-agent.js';

const HostAgentSettings = defineSettings({
  name: 'switchyard-host-agent',
  summary: "register a POP host as a conference server and publish its dispatcher's load",
  schema: Type.Object({
    redis: setting(
      Type.String({ pattern: '^rediss?://' }),
      'redis://127.0.0.1:6379',
      'Redis URL of the registry',
      'REDIS_URL',
    ),
    // the registry behind Redis Cluster or Sentinel: the schedulers' own settings (same flags, env names and
    // defaults), so one site env file configures both
    redisCluster: SchedulerProcessSettings.schema.properties.redisCluster,
    redisSentinels: SchedulerProcessSettings.schema.properties.redisSentinels,
    redisSentinelName: SchedulerProcessSettings.schema.properties.redisSentinelName,
    prefix: setting(Type.String(), 'sy', 'registry key prefix', 'REGISTRY_PREFIX'),
    id: setting(
      Type.String({ minLength: 1 }),
      'pop1-host1',
      'POP host id (its conference-server id)',
      'HOST_ID',
    ),
    sip: setting(
      Type.String({ pattern: '^[0-9.]+:[0-9]+$' }),
      '127.0.1.1:5060',
      "the host's SIP address",
      'HOST_SIP',
    ),
    region: setting(Type.String({ minLength: 1 }), 'default', 'region', 'HOST_REGION'),
    capacity: setting(Type.Integer({ minimum: 0 }), 500, 'participants the host accepts', 'HOST_CAPACITY'),
    dispatcherUrl: setting(
      Type.String({ pattern: '^https?://' }),
      'http://127.0.1.1:8160',
      "the host dispatcher's control API",
      'HOST_DISPATCHER_URL',
    ),
    dispatcherToken: setting(Type.String(), '', "the dispatcher's control token", 'SIPDISP_CONTROL_TOKEN', {
      secret: true,
    }),
    routerUrl: setting(
      Type.String({ pattern: '^(https?://.+)?$' }),
      '',
      "the local pop-router's control API; empty: conferences are not claimed here",
      'HOST_ROUTER_URL',
    ),
    routerToken: setting(Type.String(), '', "the pop-router's control token", 'POPR_TOKEN', { secret: true }),
    assignmentService: setting(
      Type.String({ minLength: 1 }),
      'conference',
      'registry service of assignments',
    ),
    loadEveryMs: setting(Type.Integer({ minimum: 50 }), 1000, 'how often the load is read, ms'),
    ttlMs: setting(Type.Integer({ minimum: 100 }), 3000, 'registry lease TTL, ms'),
    heartbeatMs: setting(Type.Integer({ minimum: 10 }), 1000, 'lease heartbeat, ms'),
  }),
  examples: [
    'switchyard-host-agent --redis redis://127.0.0.1:6390 --id pop1-host2 --sip 127.0.1.2:5060',
    'switchyard-host-agent --redis-cluster 10.0.0.21:6379,10.0.0.22:6379 --id pop1-host2 --sip 10.0.1.2:5060',
  ],
});

async function main(): Promise<void> {
  const r = HostAgentSettings.load(process.argv.slice(2), process.env);
  if (r.help) {
    process.stdout.write(r.text);
    return;
  }
  const cfg = r.config;
  const logger = createLogger('host-agent');
  if (cfg.redisCluster.length && cfg.redisSentinels.length)
    throw new ConfigError('redisCluster', 'give either --redis-cluster or --redis-sentinels, not both');
  // one Redis (--redis), Redis Cluster (follows MOVED and failovers) or the master the sentinels name
  const redis = createRedisClient(
    {
      redis: cfg.redis,
      clusterNodes: hostPorts(cfg.redisCluster),
      sentinelNodes: hostPorts(cfg.redisSentinels),
      redisSentinelName: cfg.redisSentinelName,
    },
    logger,
    undefined,
  );
  await waitReady(redis, logger);
  const store = new RedisRegistryStore({ redis, clock: systemClock, logger }, { prefix: cfg.prefix });
  await store.start();
  const agent = new HostAgent(
    { store, clock: systemClock, logger },
    {
      id: cfg.id,
      sip: cfg.sip,
      region: cfg.region,
      capacity: cfg.capacity,
      dispatcherUrl: cfg.dispatcherUrl,
      dispatcherToken: cfg.dispatcherToken,
      loadEveryMs: cfg.loadEveryMs,
      routerUrl: cfg.routerUrl,
      routerToken: cfg.routerToken,
      assignmentService: cfg.assignmentService,
      agent: { ttlMs: cfg.ttlMs, heartbeatMs: cfg.heartbeatMs },
    },
  );
  await agent.start();
  stopOnSignals(
    {
      stop: async () => {
        await agent.stop();
        await store.stop();
        redis.disconnect();
      },
    },
    logger,
    5_000, // deregistering needs Redis; when it is down the lease expires anyway
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`switchyard-host-agent: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
