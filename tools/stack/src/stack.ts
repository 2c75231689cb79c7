/**
 * What the local stack runs, in start order, derived from a {@link Topology}: a private Redis, the schedulers, the
 * POP hosts (host-dispatcher, pop-router and conference-server agent each, on the host's own loopback address), the
 * container balancer and its mixers, the admin console. Every app starts through its package.json `bin`. An app that
 * does not exist on this branch, or is not built, is returned in `skipped` with the reason: never faked.
 */
import { redisServerArgs, redisServerPath } from '@switchyard/launch';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { ComponentSpec } from './supervisor.js';
import { popHosts, type Topology } from './topology.js';

export interface StackConfig {
  /** Repository root (where the built apps live). */
  root: string;
  /** State directory for the stack's processes (Redis dir, token file). */
  dir: string;
  topology: Readonly<Topology>;
  /** Bearer token for every control API of the stack (written to `<dir>/token`, mode 0600). */
  token: string;
  /**
   * `--netns`: the shared services run inside this namespace (every component is wrapped in `ip netns exec`), their
   * readiness is checked from inside it, and the POP hosts (made by `NetnsPop`, not by this plan) are given here for
   * the console. See netns-stack.ts.
   */
  netns?: StackNetns;
}

export interface StackNetns {
  /** the services namespace */
  services: string;
  /** GET `url` from inside the services namespace: ok? */
  http(url: string): Promise<boolean>;
  /** the stack's Redis answers PING (from inside the services namespace) */
  redis(): Promise<boolean>;
  /** the POP hosts' control URLs (console) */
  pop: { control: string; router: string }[];
}

export interface SkippedComponent {
  name: string;
  reason: string;
}

export interface StackPlan {
  components: ComponentSpec[];
  skipped: SkippedComponent[];
}

/**
 * The built entry point of a project's package.json `bin` (its first, or the named one), or why there is none:
 * the project does not exist on this branch, or it is not built.
 */
export function binOf(root: string, project: string, name?: string): { file: string } | { reason: string } {
  const pkgFile = path.join(root, project, 'package.json');
  if (!fs.existsSync(pkgFile)) return { reason: `not built: ${project} does not exist on this branch` };
  const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as { bin?: string | Record<string, string> };
  const bins = typeof pkg.bin === 'string' ? { default: pkg.bin } : (pkg.bin ?? {});
  const rel = name ? bins[name] : Object.values(bins)[0];
  if (!rel) return { reason: `not built: ${project}/package.json has no bin${name ? ` ${name}` : ''}` };
  const file = path.join(root, project, rel);
  if (!fs.existsSync(file))
    return { reason: `not built: ${path.relative(root, file)} missing (run nx build)` };
  return { file };
}

async function redisReady(host: string, port: number): Promise<boolean> {
  const r = new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => undefined); // not up yet: connect() rejects, and we poll again
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } finally {
    r.disconnect();
  }
}

export async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
  return res.ok;
}

export function redisUrl(t: Readonly<Topology>): string {
  return `redis://${t.host}:${t.redis.port}`;
}

export function schedulerUrls(t: Readonly<Topology>): string[] {
  return Array.from(
    { length: t.schedulers.count },
    (_, i) => `http://${t.host}:${t.schedulers.basePort + i}`,
  );
}

export function balancerUrl(t: Readonly<Topology>): string {
  return `http://${t.host}:${t.balancer.port}`;
}

export function stackComponents(cfg: StackConfig): StackPlan {
  const t = cfg.topology;
  const httpCheck = cfg.netns ? (url: string) => cfg.netns!.http(url) : httpOk;
  const redisDir = path.join(cfg.dir, 'redis');
  fs.mkdirSync(redisDir, { recursive: true });
  const tokenFile = path.join(cfg.dir, 'token');
  fs.writeFileSync(tokenFile, cfg.token + '\n', { mode: 0o600 });
  const redis = redisUrl(t);
  const node = process.execPath;
  const components: ComponentSpec[] = [];
  const skipped: SkippedComponent[] = [];
  /** Adds an app started through its bin, or records why it is skipped. */
  const app = (
    name: string,
    project: string,
    spec: Omit<ComponentSpec, 'name' | 'command' | 'args'> & { args: string[]; bin?: string },
  ): boolean => {
    const b = binOf(cfg.root, project, spec.bin);
    if ('reason' in b) {
      skipped.push({ name, reason: b.reason });
      return false;
    }
    const { bin: _bin, args, ...rest } = spec;
    components.push({ name, command: node, args: [b.file, ...args], ...rest });
    return true;
  };

  components.push({
    name: 'redis',
    command: redisServerPath(),
    // the one private-redis recipe (@switchyard/launch), with AOF on: pending and placed conferences survive a
    // restart of the stack's Redis
    args: redisServerArgs(t.host, t.redis.port, redisDir, [], true),
    ready: () => (cfg.netns ? cfg.netns.redis() : redisReady(t.host, t.redis.port)),
    phase: 0,
    describe: [redis],
  });

  schedulerUrls(t).forEach((base, i) => {
    app(`scheduler-${i + 1}`, 'apps/global-scheduler', {
      args: [
        '--id',
        `sched-${i + 1}`,
        '--host',
        t.host,
        '--port',
        String(t.schedulers.basePort + i),
        '--redis',
        redis,
        '--token-file',
        tokenFile,
      ],
      ready: () => httpCheck(`${base}/healthz`),
      phase: 1,
      describe: [`${base}  (API docs: ${base}/openapi.json)`],
    });
  });

  if (t.simulatedServers > 0) {
    app('fleet-sim', 'tools/fleet-sim', {
      args: ['--redis', redis, '--count', String(t.simulatedServers), '--capacity', '200', '--host', t.host],
      readyLine: /"fleet":"ready"/,
      phase: 1,
      describe: [`${t.simulatedServers} simulated conference servers`],
    });
  }

  const balancer = balancerUrl(t);
  const balancerBuilt = 'file' in binOf(cfg.root, 'apps/container-balancer');
  const routersBuilt = 'file' in binOf(cfg.root, 'apps/pop-router');
  const keyringFile = path.join(cfg.dir, 'pop-keyring.json');
  // the POP's gossip and tunnel keyring: a fresh secret per stack run, readable by its owner only
  fs.writeFileSync(
    keyringFile,
    JSON.stringify({ primary: 1, keys: [{ id: 1, secret: randomBytes(32).toString('base64url') }] }),
    { mode: 0o600 },
  );
  const hosts = popHosts(t);
  for (const h of hosts) {
    const n = h.id.slice(h.id.lastIndexOf('host') + 4);
    const runtimeDir = path.join(cfg.dir, h.id);
    fs.mkdirSync(runtimeDir, { recursive: true });
    app(`dispatcher-${n}`, 'apps/host-dispatcher', {
      args: [
        '--listen',
        h.sip,
        '--min-workers',
        String(t.pop.workers),
        '--control-host',
        h.address,
        '--control-port',
        String(t.pop.controlPort),
        '--drain-timeout-ms',
        '3000', // Ctrl-C stops the whole stack within 10 s
        '--runtime-dir',
        runtimeDir, // its pop-router connects to <runtime-dir>/workers.seqpacket
        '--worker-start-timeout-ms',
        '60000', // a shared machine under load starts a worker slowly
      ],
      // secrets by env, not on the command line where ps would show them; workers inherit the media settings
      env: {
        SIPDISP_CONTROL_TOKEN: cfg.token,
        ...(balancerBuilt && t.balancer.mixers > 0
          ? { SIPDISP_BALANCER_URL: balancer, SIPDISP_BALANCER_TOKEN: cfg.token }
          : {}),
      },
      ready: () => httpCheck(`${h.control}/healthz`),
      phase: 1,
      describe: [`SIP udp+tcp ${h.sip}  control ${h.control}`],
    });
    app(`pop-router-${n}`, 'apps/pop-router', {
      args: [
        ...['--id', h.id, '--address', h.address, '--gossip-port', String(t.pop.gossipPort)],
        // loopback has no multicast between addresses: unicast fan-out, every other host a seed
        '--gossip-transport',
        'unicast',
        ...hosts.filter((o) => o !== h).flatMap((o) => ['--seeds', `${o.address}:${t.pop.gossipPort}`]),
        ...[
          '--keyring-file',
          keyringFile,
          '--encapsulation',
          'udp',
          '--tunnel-port',
          String(t.pop.tunnelPort),
        ],
        ...['--dispatcher-socket', path.join(runtimeDir, 'workers.seqpacket')],
        ...['--host', h.address, '--port', String(t.pop.routerPort), '--token-file', tokenFile],
      ],
      ready: () => httpCheck(`${h.router}/healthz`),
      phase: 2,
      describe: [`control ${h.router}`],
    });
    app(`agent-${n}`, 'tools/stack', {
      bin: 'switchyard-host-agent',
      args: [
        '--redis',
        redis,
        '--id',
        h.id,
        '--sip',
        h.sip,
        '--region',
        t.region,
        '--capacity',
        String(t.pop.capacity),
        '--dispatcher-url',
        h.control,
        ...(routersBuilt ? ['--router-url', h.router] : []),
      ],
      env: { SIPDISP_CONTROL_TOKEN: cfg.token, POPR_TOKEN: cfg.token },
      readyLine: /"msg":"registered"/,
      phase: 2, // after its dispatcher: the schedulers may place conferences on it at once
      describe: [`conference server ${h.id} at ${h.sip}`],
    });
  }

  if (t.balancer.mixers > 0) {
    app('balancer', 'apps/container-balancer', {
      args: [
        ...['--host', t.host, '--port', String(t.balancer.port)],
        ...['--register-host', t.host, '--register-port', String(t.balancer.registerPort)],
        ...['--registration-token-file', tokenFile, '--api-token-file', tokenFile],
      ],
      ready: () => httpCheck(`${balancer}/healthz`),
      phase: 1,
      describe: [`${balancer}/v1/services`],
    });
    for (let i = 0; i < t.balancer.mixers; i++) {
      const port = t.balancer.mixerBasePort + i;
      app(`mixer-${i + 1}`, 'apps/mixer', {
        args: [
          ...['--id', `mixer-${i + 1}`, '--mode', 'direct', '--host', t.host, '--port', String(port)],
          ...['--balancer', `${t.host}:${t.balancer.registerPort}`, '--registration-token-file', tokenFile],
          ...['--rtp-host', t.host],
        ],
        ready: () => httpCheck(`http://${t.host}:${port}/healthz`),
        phase: 2, // mixers dial in to the balancer
        describe: [`http://${t.host}:${port}/v1/stats`],
      });
    }
  }

  if (t.console.enabled) {
    const url = `http://${t.host}:${t.console.port}`;
    app('console', 'apps/admin-console', {
      args: [
        '--host',
        t.host,
        '--port',
        String(t.console.port),
        '--redis-url',
        redis,
        ...schedulerUrls(t).flatMap((u) => ['--scheduler-url', u]),
        ...[...popHosts(t), ...(cfg.netns?.pop ?? [])].flatMap((h) => [
          '--dispatcher-url',
          h.control,
          '--pop-router-url',
          h.router,
        ]),
        ...(t.balancer.mixers > 0 ? ['--balancer-url', balancer] : []),
        '--scheduler-token-file',
        tokenFile,
        '--dispatcher-token-file',
        tokenFile,
        '--pop-router-token-file',
        tokenFile,
        '--balancer-token-file',
        tokenFile,
        '--password-file',
        tokenFile,
      ],
      ready: () => httpCheck(`${url}/healthz`),
      phase: 3,
      describe: [`${url}  (password: the token)`],
    });
  }
  const ns = cfg.netns?.services;
  return {
    components: ns
      ? components.map((c) => ({ ...c, command: 'ip', args: ['netns', 'exec', ns, c.command, ...c.args] }))
      : components,
    skipped,
  };
}

/** What to tell the operator once everything is up. */
export function stackUsage(cfg: StackConfig): string {
  const t = cfg.topology;
  const [api] = schedulerUrls(t);
  const hosts = popHosts(t);
  const tokenFile = path.join(cfg.dir, 'token');
  const lines = ['Try it:', `  TOKEN=$(cat ${tokenFile})`];
  if (api) {
    lines.push(
      `  curl -s -X POST ${api}/v1/conferences -H "authorization: Bearer $TOKEN" \\`,
      `       -H 'content-type: application/json' -d '{"id":"conf-42","expectedParticipants":8}'`,
      `  curl -s ${api}/v1/conferences/conf-42      # placed on a POP host within a round: server, epoch`,
    );
  }
  if (hosts[0]) {
    lines.push(
      `  cd "$(mktemp -d)" && sipp -sn uac ${hosts[0].sip} -s conf-42 -m 20 -r 5 -i ${hosts[0].address} -p 0 -nostdin -timeout 30s`,
      `  curl -s -H "authorization: Bearer $TOKEN" ${hosts[0].control}/workers   # which worker holds conf-42`,
    );
  }
  return lines.join('\n');
}
