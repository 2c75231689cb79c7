/**
 * What the local stack runs, in start order: a private Redis, a fleet of simulated conference servers, a cluster of
 * schedulers, and (when built) the host dispatcher. `tiersNotDeployed` names the tiers that do not exist yet so the
 * launcher says so instead of pretending.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Redis } from 'ioredis';
import type { ComponentSpec } from './supervisor.js';

export interface StackConfig {
  /** Repository root (where the built apps live). */
  root: string;
  /** State directory for the stack's processes (Redis dir, token file). */
  dir: string;
  host: string;
  redisPort: number;
  /** One scheduler per port. */
  schedulerPorts: number[];
  /** Simulated conference servers (stand-ins until the POP tier registers real hosts). */
  servers: number;
  /** Bearer token for every control API of the stack (written to `<dir>/token`, mode 0600). */
  token: string;
  /** SIP service address of the host dispatcher, `ip:port`. */
  sipListen: string;
  /** Control API port of the host dispatcher. */
  controlPort: number;
}

export const tiersNotDeployed = ['pop-router (tier 2)', 'container-balancer (tier 4)'];

function commandPath(cmd: string): string {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(`${cmd} not found: run \`npm run setup -- --for stack\``);
  }
}

function built(root: string, rel: string): string {
  const file = path.join(root, rel);
  if (!fs.existsSync(file)) throw new Error(`${rel} is not built: run \`npx nx run-many -t build\``);
  return file;
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

async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
  return res.ok;
}

export function stackComponents(cfg: StackConfig): ComponentSpec[] {
  const redisDir = path.join(cfg.dir, 'redis');
  fs.mkdirSync(redisDir, { recursive: true });
  const tokenFile = path.join(cfg.dir, 'token');
  fs.writeFileSync(tokenFile, cfg.token + '\n', { mode: 0o600 });
  const redisUrl = `redis://${cfg.host}:${cfg.redisPort}`;
  const node = process.execPath;
  const components: ComponentSpec[] = [
    {
      name: 'redis',
      command: commandPath('redis-server'),
      // AOF on: pending and placed conferences survive a restart of the stack's Redis
      args: [
        '--port',
        String(cfg.redisPort),
        '--bind',
        cfg.host,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--dir',
        redisDir,
        '--daemonize',
        'no',
        '--loglevel',
        'warning',
      ],
      ready: () => redisReady(cfg.host, cfg.redisPort),
      describe: [redisUrl],
    },
    {
      name: 'fleet-sim',
      command: node,
      args: [
        built(cfg.root, 'tools/fleet-sim/dist/main.js'),
        '--redis',
        redisUrl,
        '--count',
        String(cfg.servers),
        '--capacity',
        '200',
        '--host',
        cfg.host,
      ],
      readyLine: /"fleet":"ready"/,
      describe: [`${cfg.servers} simulated conference servers (capacity 200 participants each)`],
    },
  ];
  cfg.schedulerPorts.forEach((port, i) => {
    const base = `http://${cfg.host}:${port}`;
    components.push({
      name: `scheduler-${i + 1}`,
      command: node,
      args: [
        built(cfg.root, 'apps/global-scheduler/dist/main.js'),
        '--id',
        `sched-${i + 1}`,
        '--host',
        cfg.host,
        '--port',
        String(port),
        '--redis',
        redisUrl,
        '--token-file',
        tokenFile,
      ],
      ready: () => httpOk(`${base}/healthz`),
      describe: [`${base}  (API docs: ${base}/openapi.json)`],
    });
  });
  const control = `http://${cfg.host}:${cfg.controlPort}`;
  components.push({
    name: 'dispatcher',
    command: node,
    args: [
      built(cfg.root, 'apps/host-dispatcher/dist/main.js'),
      '--listen',
      cfg.sipListen,
      '--min-workers',
      '2',
      '--control-host',
      cfg.host,
      '--control-port',
      String(cfg.controlPort),
    ],
    env: { SIPDISP_CONTROL_TOKEN: cfg.token }, // not on the command line, where ps would show it
    ready: () => httpOk(`${control}/healthz`),
    describe: [`SIP udp+tcp ${cfg.sipListen}  control ${control}`],
  });
  return components;
}

/** What to tell the operator once everything is up. */
export function stackUsage(cfg: StackConfig): string {
  const api = `http://${cfg.host}:${cfg.schedulerPorts[0]}`;
  const tokenFile = path.join(cfg.dir, 'token');
  return [
    'Try it:',
    `  TOKEN=$(cat ${tokenFile})`,
    `  curl -s -X POST ${api}/v1/conferences -H "authorization: Bearer $TOKEN" \\`,
    `       -H 'content-type: application/json' -d '{"id":"conf-42","expectedParticipants":8}'`,
    `  curl -s ${api}/v1/conferences/conf-42      # placed within a round: server, address, epoch`,
    `  curl -s ${api}/v1/schedulers               # live schedulers and their shares`,
    `  cd "$(mktemp -d)" && sipp -sn uac ${cfg.sipListen} -s conf-42 -m 20 -r 5 -i ${cfg.host} -p 0 -nostdin -timeout 30s`,
    `  curl -s http://${cfg.host}:${cfg.controlPort}/workers   # which worker holds conf-42`,
  ].join('\n');
}
