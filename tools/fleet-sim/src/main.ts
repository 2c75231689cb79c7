/** The fleet simulator as a process: starts N agents against a Redis registry, prints one ready line, runs until SIGTERM. */
import { Type } from '@sinclair/typebox';
import { Redis } from 'ioredis';
import {
  createLogger,
  parseCli,
  parseConfig,
  stopOnSignals,
  systemClock,
  type CliSpec,
} from '@switchyard/core';
import { RedisRegistryStore } from '@switchyard/registry';
import { FleetDefaults as D, FleetSim } from './fleet.js';

const spec: CliSpec = {
  name: 'fleet-sim',
  summary: 'many simulated conference servers (server agents) registered in a Redis registry',
  options: {
    redis: {
      type: 'string',
      env: 'REDIS_URL',
      doc: 'Redis URL of the registry',
      defaultText: 'redis://127.0.0.1:6379',
    },
    prefix: { type: 'string', env: 'REGISTRY_PREFIX', doc: 'registry key prefix', defaultText: 'sy' },
    count: { type: 'string', doc: 'number of servers', defaultText: String(D.count) },
    'id-prefix': { type: 'string', doc: 'server ids are <id-prefix><n>', defaultText: D.idPrefix },
    regions: { type: 'string', doc: 'comma-separated regions, given round-robin', defaultText: 'default' },
    capacity: {
      type: 'string',
      doc: 'capacity of each server (participants)',
      defaultText: String(D.capacity),
    },
    host: { type: 'string', doc: 'loopback address for probe endpoints', defaultText: D.host },
    'base-port': {
      type: 'string',
      doc: 'first published (simulated) SIP port',
      defaultText: String(D.basePort),
    },
    'ttl-ms': { type: 'string', doc: 'agent lease TTL', defaultText: '3000' },
    'heartbeat-ms': { type: 'string', doc: 'agent heartbeat', defaultText: '1000' },
    'no-follow': { type: 'boolean', doc: 'do not follow assignments (load stays 0)' },
  },
  examples: ['fleet-sim --redis redis://127.0.0.1:6379 --count 50 --regions eu,us --capacity 500'],
};

const Schema = Type.Object({
  redis: Type.String({ pattern: '^rediss?://', default: 'redis://127.0.0.1:6379' }),
  prefix: Type.String({ default: 'sy' }),
  count: Type.Integer({ minimum: 1, maximum: 5000, default: D.count }),
  idPrefix: Type.String({ pattern: '^[A-Za-z0-9._-]+$', default: D.idPrefix }),
  regions: Type.String({ pattern: '^[a-z0-9-]+(,[a-z0-9-]+)*$', default: 'default' }),
  capacity: Type.Integer({ minimum: 0, default: D.capacity }),
  host: Type.String({ pattern: '^127\\.', default: D.host }),
  basePort: Type.Integer({ minimum: 1, maximum: 65535, default: D.basePort }),
  ttlMs: Type.Integer({ minimum: 100, default: 3000 }),
  heartbeatMs: Type.Integer({ minimum: 10, default: 1000 }),
  noFollow: Type.Boolean({ default: false }),
});

async function main(): Promise<void> {
  const cli = parseCli(spec, process.argv.slice(2));
  if (cli.help) {
    process.stdout.write(cli.text);
    return;
  }
  const cfg = parseConfig(Schema, cli.values);
  const logger = createLogger('fleet-sim');
  const redis = new Redis(cfg.redis, { lazyConnect: true });
  redis.on('error', (err) => logger.debug({ err }, 'redis'));
  await redis.connect();
  const store = new RedisRegistryStore({ redis, clock: systemClock, logger }, { prefix: cfg.prefix });
  await store.start();
  const fleet = new FleetSim(
    { store, clock: systemClock, logger },
    {
      count: cfg.count,
      idPrefix: cfg.idPrefix,
      regions: cfg.regions.split(','),
      capacity: cfg.capacity,
      host: cfg.host,
      basePort: cfg.basePort,
      followAssignments: !cfg.noFollow,
      agent: { ttlMs: cfg.ttlMs, heartbeatMs: cfg.heartbeatMs },
    },
  );
  await fleet.start();
  process.stdout.write(
    `${JSON.stringify({ fleet: 'ready', pid: process.pid, servers: fleet.agents.map((a) => ({ id: a.record?.id, probe: a.probeUrl })) })}\n`,
  );
  stopOnSignals(
    {
      stop: async () => {
        await fleet.stop();
        await store.stop();
        redis.disconnect();
      },
    },
    logger,
    // deregistering needs Redis; when it is unreachable, give up after a few seconds (the leases expire anyway)
    5_000,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`fleet-sim: ${(err as Error).message}\n`);
  process.exit(1);
});
