/**
 * `npm start -- --netns` (root): the composed stack with its POP in network namespaces, behind an ECMP router.
 *
 * - a client namespace (198.18.0.2: run SIPp there) and a router namespace holding the POP's internal bridge
 *   (198.18.1.0/24) and the ECMP multipath route to the VIP 198.19.0.100 over the hosts;
 * - N host namespaces, each running a real pop-router and host-dispatcher in `vxlan` mode from the per-host
 *   `tools/deploy/pop-host/pop-host.env` (C12), with multicast gossip on the bridge (`NetnsPop`, C13), plus the
 *   host's conference-server agent (under the supervisor, so a dead agent is restarted); a pop-router or dispatcher
 *   that dies is restarted by the `PopKeeper` (new pid shown, like the supervisor's restarts);
 * - a services namespace (198.18.2.2, routed through the router namespace) running everything else as the loopback
 *   stack does: Redis, the schedulers, the balancer and its mixers, the console;
 * - the route agent in the router namespace, withdrawing a dead host's nexthop (`RouteAgent`).
 *
 * Nothing is added to the host's own namespace: no address, link or route (the services run in a namespace of their
 * own rather than behind a veth to the root namespace for that reason), so the URLs are reached with
 * `ip netns exec <services> …`, except the console's: it is bridged to 127.0.0.1 through a Unix socket (socat). `stop()` (Ctrl-C) stops every process by pid and deletes every namespace; a failed
 * start does the same before it rethrows.
 */
import fs from 'node:fs';
import path from 'node:path';
import { silentLogger, type Logger } from '@switchyard/core';
import {
  createPopNetwork,
  NETNS_POP_CLIENT,
  NETNS_POP_PORTS,
  NetnsLab,
  NetnsPop,
  RouteAgent,
  runCommand,
  type NetnsPopNetwork,
} from '@switchyard/launch';
import { PopKeeper } from './pop-keeper.js';
import { binOf, stackComponents, type StackConfig, type StackPlan } from './stack.js';
import { StackError, Supervisor, type SupervisorEvent } from './supervisor.js';
import type { Topology } from './topology.js';

/** The services namespace's address (Redis, schedulers, balancer, mixers, console bind it). */
export const NETNS_SERVICES_ADDRESS = '198.18.2.2';

/**
 * How long Ctrl-C waits for each part before SIGKILL. The whole stop must end within 10 s (main's forced exit after
 * 10 s would leave the namespaces behind): the supervised components and the POP stop at the same time, then Redis
 * (at most 1 s more), then the namespaces are deleted (well under a second).
 */
export const NETNS_STOP_GRACE_MS = {
  /** every supervised component (agents, schedulers, balancer, mixers, console, bridges): SIGKILL after 6 s */
  supervised: 6_000,
  /** the POP's dispatchers (drain 1 s), then its routers, each step SIGKILLed after 3 s: at most 6 s together */
  pop: 3_000,
} as const;

/** Why `--netns` cannot run here, or undefined when it can (root). */
export function netnsRefusal(uid: number | undefined = process.getuid?.()): string | undefined {
  return uid === 0
    ? undefined
    : '--netns needs root: it makes network namespaces, veths and routes (all deleted on exit). ' +
        'Run it as root (sudo npm start -- --netns), or run the loopback stack without --netns.';
}

export interface NetnsStack {
  cfg: StackConfig;
  plan: StackPlan;
  sup: Supervisor;
  pop: NetnsPop;
  network: NetnsPopNetwork;
  services: string;
  routeAgent: RouteAgent;
  /** The console as this machine reaches it (127.0.0.1, bridged into the services namespace), when it runs. */
  consoleUrl?: string;
  /** Stops every process by pid (supervised ones, the POP's), then deletes every namespace. Idempotent. */
  stop(): Promise<void>;
}

export interface NetnsStackOptions {
  root: string;
  dir: string;
  topology: Readonly<Topology>;
  token: string;
  /** namespace prefix (default `sy-stack`); tests use their own */
  prefix?: string;
  logger?: Logger;
  events?: (e: SupervisorEvent) => void;
  output?: (name: string, line: string) => void;
  /** The console's port on this machine's 127.0.0.1 (default: the topology's console port). */
  consoleHostPort?: number;
  /** progress lines for the parts the supervisor does not start (namespaces, POP hosts) */
  progress?: (line: string) => void;
}

const curlOk = (ns: string, url: string) =>
  runCommand(
    'ip',
    ['netns', 'exec', ns, 'curl', '-sf', '-o', '/dev/null', '--max-time', '2', url],
    5_000,
  ).then(
    () => true,
    () => false,
  );

export async function startNetnsStack(o: NetnsStackOptions): Promise<NetnsStack> {
  const refusal = netnsRefusal();
  if (refusal) throw new StackError('STACK_ERR_NETNS', refusal);
  const say = o.progress ?? (() => undefined);
  const prefix = o.prefix ?? 'sy-stack';
  const t = o.topology;
  const lab = await NetnsLab.create(prefix);
  const sup = new Supervisor(
    { logger: o.logger ?? silentLogger, events: o.events, output: o.output },
    { stopGraceMs: NETNS_STOP_GRACE_MS.supervised },
  );
  let pop: NetnsPop | undefined;
  let routeAgent: RouteAgent | undefined;
  let keeper: PopKeeper | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    keeper?.stop();
    await routeAgent?.stop().catch(() => undefined);
    try {
      // together: Ctrl-C must stop everything within 10 s (see NETNS_STOP_GRACE_MS)
      await Promise.all([
        sup.stop(),
        pop?.dispose({ graceMs: NETNS_STOP_GRACE_MS.pop }).catch(() => undefined),
      ]);
    } finally {
      await lab.dispose();
      say(`deleted namespaces ${prefix}-*`);
    }
  };
  try {
    const network = await createPopNetwork(lab);
    const services = await lab.namespace('s');
    await lab.veth(
      { ns: network.router, name: 'r-s', address: '198.18.2.1/24' },
      { ns: services, name: 's0', address: `${NETNS_SERVICES_ADDRESS}/24` },
    );
    await lab.defaultRoute(services, '198.18.2.1');
    say(
      `namespaces: client ${network.client} (${NETNS_POP_CLIENT}), router ${network.router}, services ${services}`,
    );
    // the shared services: the loopback plan without POP hosts, bound to the services address, run in its namespace
    const shared: Topology = { ...t, host: NETNS_SERVICES_ADDRESS, pop: { ...t.pop, hosts: 0 } };
    const hostUrls = Array.from({ length: t.pop.hosts }, (_, i) => {
      const a = `198.18.1.${10 + i + 1}`;
      return {
        control: `http://${a}:${NETNS_POP_PORTS.dispatcher}`,
        router: `http://${a}:${NETNS_POP_PORTS.router}`,
      };
    });
    const cfg: StackConfig = {
      root: o.root,
      dir: o.dir,
      topology: shared,
      token: o.token,
      netns: {
        services,
        http: (url) => curlOk(services, url),
        redis: () =>
          runCommand('ip', [
            'netns',
            'exec',
            services,
            'redis-cli',
            '-h',
            NETNS_SERVICES_ADDRESS,
            '-p',
            String(t.redis.port),
            'ping',
          ]).then(
            (out) => out.trim() === 'PONG',
            () => false,
          ),
        pop: hostUrls,
      },
    };
    const plan = stackComponents(cfg);
    const phase = (p: number) => plan.components.filter((c) => (c.phase ?? 0) === p);
    const startPhase = async (p: number) => {
      const results = await Promise.allSettled(phase(p).map((c) => sup.start(c)));
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    };
    await startPhase(0); // Redis
    await startPhase(1); // schedulers, balancer
    const balancer = `http://${NETNS_SERVICES_ADDRESS}:${t.balancer.port}`;
    say(`starting POP: ${t.pop.hosts} hosts (pop-router + host-dispatcher each, vxlan, multicast gossip)`);
    pop = await NetnsPop.start({
      network,
      prefix,
      hosts: t.pop.hosts,
      workers: t.pop.workers,
      gossip: 'multicast',
      token: o.token,
      hostEnv: (): Record<string, string> =>
        t.balancer.mixers > 0 && 'file' in binOf(o.root, 'apps/container-balancer')
          ? { SIPDISP_BALANCER_URL: balancer, SIPDISP_BALANCER_TOKEN: o.token }
          : {},
    });
    for (const h of pop.hosts)
      say(
        `ready      ${h.id.padEnd(14)} router pid ${h.router.pid}, dispatcher pid ${h.dispatcher.pid} (${h.ns})`,
      );
    // a POP process that dies is restarted like a supervised component (new pid shown)
    keeper = new PopKeeper({ pop, logger: o.logger ?? silentLogger, events: o.events });
    keeper.start();
    routeAgent = new RouteAgent({
      ns: network.router,
      dest: `${pop.vip}/32`,
      dev: network.bridge,
      hosts: pop.hosts,
      routerPort: NETNS_POP_PORTS.router,
      token: o.token,
      onChange: (ids) => say(`route agent: ${pop!.vip} via ${ids.join(', ')}`),
    });
    await routeAgent.start();
    // each host's conference-server agent, in its namespace, under the supervisor (restarted if it dies)
    const agentBin = binOf(o.root, 'tools/stack', 'switchyard-host-agent');
    if ('reason' in agentBin) throw new StackError('STACK_ERR_START', `host agent: ${agentBin.reason}`);
    const redisUrl = `redis://${NETNS_SERVICES_ADDRESS}:${t.redis.port}`;
    await Promise.all(
      pop.hosts.map((h) =>
        sup.start({
          name: `agent-${h.index}`,
          command: 'ip',
          args: [
            ...['netns', 'exec', h.ns, process.execPath, agentBin.file],
            ...['--redis', redisUrl, '--id', h.id, '--sip', `${h.address}:${NETNS_POP_PORTS.sip}`],
            ...['--region', t.region, '--capacity', String(t.pop.capacity)],
            ...['--dispatcher-url', `http://${h.address}:${NETNS_POP_PORTS.dispatcher}`],
            ...['--router-url', `http://${h.address}:${NETNS_POP_PORTS.router}`],
          ],
          env: { SIPDISP_CONTROL_TOKEN: o.token, POPR_TOKEN: o.token },
          readyLine: /"msg":"registered"/,
          describe: [`conference server ${h.id} at ${h.address}:${NETNS_POP_PORTS.sip} (${h.ns})`],
        }),
      ),
    );
    await startPhase(2); // mixers
    await startPhase(3); // console
    const consoleUrl = plan.components.some((c) => c.name === 'console')
      ? await bridgeConsole(sup, {
          services,
          prefix,
          port: t.console.port,
          hostPort: o.consoleHostPort ?? t.console.port,
        })
      : undefined;
    return { cfg, plan, sup, pop, network, services, routeAgent, consoleUrl, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

/**
 * Makes the console (in the services namespace) reachable from this machine without adding anything to its network:
 * a socat inside the services namespace listens on a Unix socket (a file: the same in every network namespace) and
 * connects each client to the console; a socat in this namespace listens on 127.0.0.1:<hostPort> and connects to that
 * Unix socket. Both run under the supervisor (restarted if they die, stopped by pid). Returns the console's URL here.
 */
async function bridgeConsole(
  sup: Supervisor,
  o: { services: string; prefix: string; port: number; hostPort: number },
): Promise<string> {
  const dir = '/run/switchyard';
  fs.mkdirSync(dir, { recursive: true });
  // a short path: a Unix socket's path is at most 107 bytes
  const sock = path.join(dir, `${o.prefix}-console.sock`);
  const url = `http://127.0.0.1:${o.hostPort}`;
  await sup.start({
    name: 'console-bridge-ns',
    command: 'ip',
    args: [
      ...['netns', 'exec', o.services, 'socat'],
      `UNIX-LISTEN:${sock},fork,unlink-early,mode=600`,
      `TCP:${NETNS_SERVICES_ADDRESS}:${o.port}`,
    ],
    ready: async () => fs.existsSync(sock),
  });
  await sup.start({
    name: 'console-bridge',
    command: 'socat',
    args: [`TCP-LISTEN:${o.hostPort},bind=127.0.0.1,reuseaddr,fork`, `UNIX-CONNECT:${sock}`],
    ready: () =>
      fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.ok,
        () => false,
      ),
    describe: [`${url}  (console, from this machine; password: the token)`],
  });
  return url;
}

/** What to tell the operator once the namespace stack is up (every command works as root, as printed). */
export function netnsStackUsage(s: NetnsStack): string {
  const t = s.cfg.topology;
  const api = `http://${NETNS_SERVICES_ADDRESS}:${t.schedulers.basePort}`;
  const tokenFile = path.join(s.cfg.dir, 'token');
  const inSvc = `ip netns exec ${s.services}`;
  const lines = [
    'The POP runs in network namespaces; the URLs below are reached from inside them (nothing was added to this',
    "machine's own network):",
    `  client namespace  ${s.network.client} (${NETNS_POP_CLIENT})   run SIPp here, calling the VIP ${s.pop.vip}:5060`,
    `  router namespace  ${s.network.router}   ECMP route: ip -n ${s.network.router} route show ${s.pop.vip}`,
    `  services          ${s.services} (${NETNS_SERVICES_ADDRESS})   schedulers ${api}, balancer http://${NETNS_SERVICES_ADDRESS}:${t.balancer.port}` +
      (t.console.enabled ? `, console http://${NETNS_SERVICES_ADDRESS}:${t.console.port}` : ''),
    ...(s.consoleUrl
      ? [`  console           ${s.consoleUrl}   from this machine (a browser here), password: the token`]
      : []),
    ...s.pop.hosts.map(
      (h) =>
        `  ${h.id.padEnd(16)}  ${h.ns} (${h.address})   pop-router http://${h.address}:${NETNS_POP_PORTS.router}, dispatcher http://${h.address}:${NETNS_POP_PORTS.dispatcher}`,
    ),
    '',
    'Try it (as root):',
    `  TOKEN=$(cat ${tokenFile})`,
    `  ${inSvc} curl -s -X POST ${api}/v1/conferences -H "authorization: Bearer $TOKEN" \\`,
    `       -H 'content-type: application/json' -d '{"id":"conf-42","expectedParticipants":8}'`,
    `  ${inSvc} curl -s ${api}/v1/conferences/conf-42      # placed on a POP host: server, epoch`,
    `  cd "$(mktemp -d)" && ip netns exec ${s.network.client} sipp -sn uac ${s.pop.vip}:5060 -s conf-42 -m 20 -r 5 -t un -max_socket 100 -i ${NETNS_POP_CLIENT} -p 0 -nostdin -timeout 30s`,
    `  ip netns exec ${s.pop.hosts[0]?.ns ?? '<host ns>'} curl -s -H "authorization: Bearer $TOKEN" http://${s.pop.hosts[0]?.address ?? '<host>'}:${NETNS_POP_PORTS.router}/v1/sessions/conf-42   # its owner`,
  ];
  return lines.join('\n');
}
