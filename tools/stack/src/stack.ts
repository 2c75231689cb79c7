/**
 * What the local stack runs, in start order. Each tier is added here as it is built; `tiersNotDeployed` names the
 * ones that do not exist yet so the launcher can say so instead of pretending.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Redis } from 'ioredis';
import type { ComponentSpec } from './supervisor.js';

export interface StackConfig {
  /** Repository root (where the built apps live). */
  root: string;
  /** State directory for the stack's processes (Redis dir, logs). */
  dir: string;
  host: string;
  redisPort: number;
}

export const tiersNotDeployed = [
  'global-scheduler (tier 1)',
  'pop-router (tier 2)',
  'host-dispatcher (tier 3)',
  'container-balancer (tier 4)',
];

function commandPath(cmd: string): string {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(`${cmd} not found: run \`npm run setup -- --for stack\``);
  }
}

async function redisReady(host: string, port: number): Promise<boolean> {
  const r = new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } finally {
    r.disconnect();
  }
}

export function stackComponents(cfg: StackConfig): ComponentSpec[] {
  const redisDir = path.join(cfg.dir, 'redis');
  fs.mkdirSync(redisDir, { recursive: true });
  return [
    {
      name: 'redis',
      command: commandPath('redis-server'),
      args: [
        '--port',
        String(cfg.redisPort),
        '--bind',
        cfg.host,
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        redisDir,
        '--notify-keyspace-events',
        'Ex',
        '--daemonize',
        'no',
        '--loglevel',
        'warning',
      ],
      ready: () => redisReady(cfg.host, cfg.redisPort),
      describe: [`redis://${cfg.host}:${cfg.redisPort}`],
    },
  ];
}
