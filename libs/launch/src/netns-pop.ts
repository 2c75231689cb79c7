/**
 * A POP in network namespaces (contract C13; root): a client namespace, a router namespace holding the POP's internal
 * network (a bridge, 198.18.1.0/24) and, by default, an ECMP multipath route to the VIP over the hosts, and N host
 * namespaces, each running a real pop-router and a real host-dispatcher configured from
 * `tools/deploy/pop-host/pop-host.env` (C12), rendered per host — the same file the deployment uses. The apps are
 * started through the `bin` their package.json declares (this lib imports no app). Shared by the pop-router's
 * namespace test, `tools/bench` (pop-forward, pop-calls) and `tools/stack --netns`.
 *
 * Everything is removed by `dispose()` (call it in `finally`); a failed `start()` disposes what it made before it
 * rethrows.
 *
 * @example
 * ```ts
 * const pop = await NetnsPop.start({ prefix: 'popns-t1', hosts: 3 });
 * try {
 *   await runSipp({ netns: pop.client, localIp: NETNS_POP_CLIENT, target: `${pop.vip}:5060`, calls: 10 });
 * } finally {
 *   await pop.dispose();
 * }
 * ```
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageBin } from './bin.js';
import { LaunchError } from './errors.js';
import { NetnsLab, type Nexthop } from './netns.js';
import { untilReady, type Spawned } from './processes.js';
import { waitFor } from './wait.js';

/** The client namespace's address (SIPp runs there); its gateway is the router namespace at 198.18.0.1. */
export const NETNS_POP_CLIENT = '198.18.0.2';
/** The POP's internal network (the bridge in the router namespace): gossip, tunnels, control APIs. */
export const NETNS_POP_INTERNAL = '198.18.1.0/24';
/** The router namespace's address on the internal network: the hosts' default gateway. */
const INTERNAL_GATEWAY = '198.18.1.1';
/** The control ports `pop-host.env` configures (pop-router API, dispatcher control API). */
export const NETNS_POP_PORTS = { router: 7947, dispatcher: 8060, sip: 5060, gossip: 7946 } as const;

/** The defaults of {@link NetnsPopOptions}, one comment per value. */
export const NETNS_POP_DEFAULTS = {
  /** three hosts: the smallest POP where one nexthop fewer still spreads flows over two */
  hosts: 3,
  /** namespaces `<prefix>-*`, host ids `<prefix>-<name><i>`; callers prefix it with their branch/test name */
  prefix: 'netns-pop',
  /** distinguishes several POPs on one network (router-side veth `r-<name><i>`); at most 6 characters */
  name: 'h',
  /** the kernel decapsulates (vx0 made by the router's --vxlan-setup); `udp` is the portable mode */
  encapsulation: 'vxlan' as 'vxlan' | 'udp',
  /** multicast on the bridge as production does; `unicast` fans out to the other hosts as seeds */
  gossip: 'multicast' as 'multicast' | 'unicast',
  /** the gossip library's `test` profile: short rounds, so membership converges and a death shows in seconds */
  gossipProfile: 'test',
  /** workers per dispatcher: two, so affinity to one worker is observable */
  workers: 2,
  /** the POP's SIP address, on every host's lo; the ECMP route spreads it */
  vip: '198.19.0.100',
  /** the vxlan inner destination (C10), on every host's lo */
  inner: '198.19.0.101',
  /** host i gets 198.18.1.<addressBase + i> */
  addressBase: 10,
  /** the gossip group (several POPs on one bridge need their own) */
  multicastGroup: '239.255.77.1',
  /** route the VIP over every host (ECMP); false: the caller routes it */
  ecmp: true,
} as const;

export interface NetnsPopOptions {
  hosts?: number;
  prefix?: string;
  name?: string;
  encapsulation?: 'vxlan' | 'udp';
  gossip?: 'multicast' | 'unicast';
  gossipProfile?: string;
  workers?: number;
  vip?: string;
  inner?: string;
  addressBase?: number;
  multicastGroup?: string;
  ecmp?: boolean;
  /** Join a network another POP made (several POPs on one bridge); that POP's `dispose()` deletes it. */
  network?: NetnsPopNetwork;
  /** Extra env per host (e.g. registry or balancer URLs), applied to both processes after the rendered file. */
  hostEnv?: (host: { id: string; index: number; address: string }) => Record<string, string>;
  /** The C12 env file; default: found by walking up from the working directory and from this module. */
  envFile?: string;
  /** Log level of the apps (default `warn`, or `LOG_LEVEL` from the environment). */
  logLevel?: string;
  /** Bearer token of the control APIs (default: random per POP). */
  token?: string;
}

/** The client and router namespaces and the internal bridge, shared by every POP made on it. */
export interface NetnsPopNetwork {
  lab: NetnsLab;
  /** the client namespace (198.18.0.2, default route via the router) */
  client: string;
  /** the router namespace (198.18.0.1 to the client, 198.18.1.1 on the bridge `br0`) */
  router: string;
  /** the bridge in the router namespace the hosts' veths are enslaved to */
  bridge: string;
}

/** A POP host's two processes. */
export type NetnsPopRole = 'router' | 'dispatcher';

export interface NetnsPopHost {
  id: string;
  index: number;
  ns: string;
  address: string;
  router: Spawned;
  dispatcher: Spawned;
  /** the rendered env both processes got */
  env: Record<string, string>;
}

/** KEY=value lines of an env file with `${NAME}` placeholders substituted; a placeholder left unset is an error. */
export function renderEnvFile(text: string, values: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const eq = t.indexOf('=');
    if (eq < 1) throw new LaunchError('LNC_ERR_NETNS', `env file: not KEY=value: ${t}`);
    out[t.slice(0, eq)] = t.slice(eq + 1).replace(/\$\{([A-Z_]+)\}/g, (_m, k: string) => {
      const v = values[k];
      if (v === undefined) throw new LaunchError('LNC_ERR_NETNS', `env file: placeholder ${k} has no value`);
      return v;
    });
  }
  return out;
}

const ENV_FILE = 'tools/deploy/pop-host/pop-host.env';

/** The repository's C12 env file: searched upwards from the working directory, then from this module. */
export function findPopHostEnv(): string {
  for (const start of [process.cwd(), import.meta.dirname]) {
    let d = start;
    for (;;) {
      const f = path.join(d, ENV_FILE);
      if (fs.existsSync(f)) return f;
      const up = path.dirname(d);
      if (up === d) break;
      d = up;
    }
  }
  throw new LaunchError('LNC_ERR_NETNS', `${ENV_FILE} not found above ${process.cwd()}`);
}

/** Makes the client and router namespaces and the POP's internal bridge in `lab`. */
export async function createPopNetwork(lab: NetnsLab): Promise<NetnsPopNetwork> {
  const client = await lab.namespace('c');
  const router = await lab.namespace('r');
  await lab.veth(
    { ns: client, name: 'c0', address: `${NETNS_POP_CLIENT}/24` },
    { ns: router, name: 'r0', address: '198.18.0.1/24' },
  );
  await lab.defaultRoute(client, '198.18.0.1');
  await lab.sysctl(router, 'net.ipv4.ip_forward', 1);
  // hash on the 5-tuple: each client source port is a flow of its own
  await lab.sysctl(router, 'net.ipv4.fib_multipath_hash_policy', 1);
  await lab.bridge(router, 'br0', `${INTERNAL_GATEWAY}/24`);
  return { lab, client, router, bridge: 'br0' };
}

export class NetnsPop {
  readonly hosts: NetnsPopHost[] = [];
  /** Bearer token of the pop-routers' and dispatchers' control APIs (random per POP). */
  readonly token: string;
  readonly vip: string;
  readonly inner: string;
  private routerMain = '';
  private dispatcherMain = '';
  private disposing = false;

  private constructor(
    readonly network: NetnsPopNetwork,
    private readonly ownsLab: boolean,
    private readonly dir: string,
    private readonly o: Required<
      Omit<NetnsPopOptions, 'network' | 'hostEnv' | 'envFile' | 'logLevel' | 'token'>
    > &
      Pick<NetnsPopOptions, 'hostEnv' | 'envFile' | 'logLevel' | 'token'>,
  ) {
    this.token = o.token ?? crypto.randomBytes(16).toString('hex');
    this.vip = o.vip;
    this.inner = o.inner;
  }

  get lab(): NetnsLab {
    return this.network.lab;
  }
  get client(): string {
    return this.network.client;
  }
  get routerNs(): string {
    return this.network.router;
  }

  /**
   * Builds the POP and waits until every router is ready, every dispatcher has its workers and every router sees
   * every host alive. Fails with LNC_ERR_NETNS when not root; on any failure, what was made is deleted first.
   */
  static async start(options: NetnsPopOptions = {}): Promise<NetnsPop> {
    const { network, ...rest } = options;
    const o = { ...NETNS_POP_DEFAULTS, ...stripUndefined(rest) };
    if (o.name.length > 6 || !/^[a-z0-9]+$/.test(o.name))
      throw new LaunchError('LNC_ERR_NETNS', `POP name ${JSON.stringify(o.name)}: 1-6 of [a-z0-9]`);
    const lab = network?.lab ?? (await NetnsLab.create(o.prefix));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${o.prefix}-`));
    let pop: NetnsPop | undefined;
    try {
      pop = new NetnsPop(network ?? (await createPopNetwork(lab)), network === undefined, dir, o);
      await pop.build();
      return pop;
    } catch (err) {
      if (pop) await pop.dispose().catch(() => undefined);
      else {
        if (!network) await lab.dispose().catch(() => undefined);
        fs.rmSync(dir, { recursive: true, force: true });
      }
      throw err;
    }
  }

  hostAddress(i: number): string {
    return `198.18.1.${this.o.addressBase + i}`;
  }

  private async build(): Promise<void> {
    const { lab, router: r, bridge } = this.network;
    const o = this.o;
    const n = o.hosts;
    const keyring = path.join(this.dir, 'keyring.json');
    fs.writeFileSync(
      keyring,
      JSON.stringify({ primary: 1, keys: [{ id: 1, secret: crypto.randomBytes(24).toString('hex') }] }),
      { mode: 0o600 },
    );
    const tokenFile = path.join(this.dir, 'token');
    fs.writeFileSync(tokenFile, this.token, { mode: 0o600 });
    const template = fs.readFileSync(o.envFile ?? findPopHostEnv(), 'utf8');
    const starting: {
      id: string;
      index: number;
      ns: string;
      address: string;
      env: Record<string, string>;
    }[] = [];
    for (let i = 1; i <= n; i++) {
      // ids carry the prefix: the runtime dir under /run/switchyard is named after the id
      const id = `${o.prefix}-${o.name}${i}`;
      const ns = await lab.namespace(`${o.name}${i}`);
      const address = this.hostAddress(i);
      await lab.veth(
        { ns, name: 'pop0', address: `${address}/24` },
        { ns: r, name: `r-${o.name}${i}`, master: bridge },
      );
      await lab.defaultRoute(ns, INTERNAL_GATEWAY);
      // multicast leaves by the POP link (the default route goes there too; explicit, so the group's route never
      // depends on what else the namespace has)
      await lab.ip(ns, 'route', 'add', '224.0.0.0/4', 'dev', 'pop0');
      await lab.address(ns, 'lo', `${o.vip}/32`);
      const env = renderEnvFile(template, {
        HOST_ID: id,
        HOST_ADDR: address,
        VIP: o.vip,
        INNER_ADDR: o.inner,
        // seeds in both modes: a member joins by push-pull with a seed; multicast carries the events after that
        POP_PEERS: Array.from({ length: n }, (_, j) => j + 1)
          .filter((j) => j !== i)
          .map((j) => `${this.hostAddress(j)}:${NETNS_POP_PORTS.gossip}`)
          .join(','),
        KEYRING_FILE: keyring,
        TOKEN_FILE: tokenFile,
      });
      env['POPR_GOSSIP_TRANSPORT'] = o.gossip;
      env['POPR_GOSSIP_PROFILE'] = o.gossipProfile;
      env['POPR_MULTICAST_GROUP'] = o.multicastGroup;
      if (o.encapsulation === 'udp') {
        // udp mode: no vx0, no inner socket. Tunnel datagrams may leave from the VIP socket, which the owner also
        // has on lo: accept local sources so its kernel does not drop them as martians (see docs/pop-router.md)
        await lab.sysctl(ns, 'net.ipv4.conf.all.accept_local', 1);
        env['POPR_ENCAPSULATION'] = 'udp';
        env['POPR_VXLAN_SETUP'] = 'false';
        delete env['SIPDISP_INNER_ADDRESS'];
      }
      Object.assign(env, o.hostEnv?.({ id, index: i, address }) ?? {});
      fs.mkdirSync(env['SIPDISP_RUNTIME_DIR']!, { recursive: true });
      starting.push({ id, index: i, ns, address, env });
    }
    if (o.ecmp) await lab.route(r, `${o.vip}/32`, this.nexthops(starting));
    this.routerMain = packageBin('@switchyard/pop-router');
    this.dispatcherMain = packageBin('@switchyard/host-dispatcher');
    // the routers first: --vxlan-setup makes the inner address the dispatcher's inner socket binds (C10)
    const routers = starting.map((h) => this.spawn(h, 'router'));
    for (const [k, h] of starting.entries()) await this.untilRouterReady(h, routers[k]!);
    for (const [k, h] of starting.entries())
      this.hosts.push({ ...h, router: routers[k]!, dispatcher: this.spawn(h, 'dispatcher') });
    for (const h of this.hosts) await this.untilDispatcherReady(h);
    await this.untilConverged(this.hosts, 60_000);
  }

  /**
   * Starts one of a host's processes inside its namespace with the host's rendered env. Each runs in a process group
   * of its own (id = its pid): a dispatcher's workers are in its group, so what a dead dispatcher left behind (its
   * workers hold copies of its sockets) can be killed by the group before a new one binds the same ports.
   */
  private spawn(h: Pick<NetnsPopHost, 'ns' | 'env'>, role: NetnsPopRole): Spawned {
    const env = {
      ...process.env,
      LOG_LEVEL: this.o.logLevel ?? process.env['LOG_LEVEL'] ?? 'warn',
      ...(role === 'dispatcher'
        ? {
            SIPDISP_MIN_WORKERS: String(this.o.workers),
            SIPDISP_SPARE_WORKERS: '0',
            SIPDISP_MAX_WORKERS: String(this.o.workers),
            SIPDISP_CONTROL_TOKEN: this.token,
            SIPDISP_DRAIN_TIMEOUT_MS: '1000',
            SIPDISP_WORKER_START_TIMEOUT_MS: '120000',
          }
        : {}),
      ...h.env,
    };
    const main = role === 'router' ? this.routerMain : this.dispatcherMain;
    return this.lab.exec(h.ns, process.execPath, [main], { env, detached: true });
  }

  private untilRouterReady(h: { id: string }, proc: Spawned): Promise<unknown> {
    return untilReady(proc, `${h.id} router ready`, () => proc.output().includes('"popRouter":"ready"'), {
      timeoutMs: 120_000,
      intervalMs: 200,
    });
  }

  private untilDispatcherReady(h: NetnsPopHost): Promise<unknown> {
    return untilReady(
      h.dispatcher,
      `${h.id} dispatcher ready`,
      async () => {
        const health = await this.get(h, NETNS_POP_PORTS.dispatcher, '/healthz').catch(() => undefined);
        return (health as { ready?: number } | undefined)?.ready === this.o.workers;
      },
      { timeoutMs: 180_000, intervalMs: 500 },
    );
  }

  /**
   * Starts again one of a host's processes after it died (the stack's keeper calls it; a test may too): what is
   * left of the dead one's process group is killed first (a dead dispatcher's workers), then a new process starts
   * with the same env and replaces `h.router` / `h.dispatcher`. Resolves once it is ready (a router: its ready line;
   * a dispatcher: all its workers ready). Refused (LNC_ERR_NETNS) once `dispose()` has begun, or while the old
   * process still runs.
   */
  async restart(h: NetnsPopHost, role: NetnsPopRole): Promise<Spawned> {
    const old = h[role];
    if (this.disposing) throw new LaunchError('LNC_ERR_NETNS', `${h.id}: POP is being disposed`);
    if (old.child.exitCode === null && old.child.signalCode === null)
      throw new LaunchError('LNC_ERR_NETNS', `${h.id} ${role} pid ${old.pid} still runs`);
    killGroup(old.pid);
    const proc = this.spawn(h, role);
    h[role] = proc;
    if (role === 'router') await this.untilRouterReady(h, proc);
    else await this.untilDispatcherReady(h);
    return proc;
  }

  /** Waits until each of `hosts` sees exactly `hosts.length` hosts alive (gossip membership converged). */
  async untilConverged(hosts: readonly NetnsPopHost[] = this.hosts, timeoutMs = 60_000): Promise<void> {
    let last = '';
    await waitFor(
      `membership converged (${hosts.length} alive on each)`,
      async () => {
        const views: string[] = [];
        for (const h of hosts) {
          const v = (await this.get(h, NETNS_POP_PORTS.router, '/v1/hosts')) as {
            hosts: { id: string; state: string }[];
          };
          views.push(`${h.id}: ${v.hosts.map((x) => `${x.id}=${x.state}`).join(' ')}`);
          if (v.hosts.filter((x) => x.state === 'alive').length !== hosts.length) {
            last = views.join('; ');
            return false;
          }
        }
        return true;
      },
      { timeoutMs, intervalMs: 500 },
    ).catch((err: unknown) => {
      throw new LaunchError('LNC_ERR_NOT_READY', `${(err as Error).message}; views: ${last}`, { cause: err });
    });
  }

  /** The ECMP next hops of `hosts` on the router's bridge. */
  nexthops(hosts: readonly { address: string }[]): Nexthop[] {
    return hosts.map((h) => ({ via: h.address, dev: this.network.bridge }));
  }

  /** Replaces the VIP's route in the router namespace with one over `hosts` (fewer: flows move mid-run). */
  async routeVia(hosts: readonly { address: string }[]): Promise<void> {
    await this.lab.replaceRoute(this.routerNs, `${this.vip}/32`, this.nexthops(hosts));
  }

  /** The VIP's route as the router namespace holds it (`ip route show`), for checks and reports. */
  async vipRoute(): Promise<string> {
    return this.lab.ip(this.routerNs, 'route', 'show', `${this.vip}/32`);
  }

  /** GET of a control API inside the host's namespace (curl there: the namespaces are not routed from outside). */
  async get(h: NetnsPopHost, port: number, pathname: string): Promise<unknown> {
    const out = await this.lab.run(h.ns, 'curl', [
      '-sf',
      '--max-time',
      '10',
      '-H',
      `Authorization: Bearer ${this.token}`,
      `http://${h.address}:${port}${pathname}`,
    ]);
    return pathname === '/metrics' ? out : JSON.parse(out);
  }

  /** Sum of a metric's samples (optionally only those whose labels contain `match`) on one host's dispatcher. */
  async dispatcherMetric(h: NetnsPopHost, name: string, match = ''): Promise<number> {
    return sumMetric((await this.get(h, NETNS_POP_PORTS.dispatcher, '/metrics')) as string, name, match);
  }

  /** Sum of a metric's samples on one host's pop-router. */
  async routerMetric(h: NetnsPopHost, name: string, match = ''): Promise<number> {
    return sumMetric((await this.get(h, NETNS_POP_PORTS.router, '/metrics')) as string, name, match);
  }

  /** The pids of a host's processes: router, dispatcher and the dispatcher's workers. */
  pids(h: NetnsPopHost): number[] {
    return [h.router.pid, h.dispatcher.pid, ...childrenOf(h.dispatcher.pid)];
  }

  /** `kill -9` of a host's processes: router, dispatcher and its workers (by pid). */
  async kill9(h: NetnsPopHost): Promise<void> {
    const workers = childrenOf(h.dispatcher.pid);
    await h.router.kill9();
    await h.dispatcher.kill9();
    for (const w of workers)
      try {
        process.kill(w, 'SIGKILL');
      } catch {
        // exited with its primary
      }
  }

  /**
   * Stops the dispatchers gracefully (they stop their workers), then the routers (which remove vx0), then deletes
   * the namespaces if this POP made the network. Each step SIGKILLs what is still up after `graceMs` (default 5 s),
   * so the whole stop takes at most about twice that (`tools/stack --netns` passes less: Ctrl-C within 10 s).
   * Idempotent.
   */
  async dispose({ graceMs = 5_000 }: { graceMs?: number } = {}): Promise<void> {
    this.disposing = true;
    const workers = this.hosts.flatMap((h) =>
      childrenOf(h.dispatcher.pid).map((pid) => [pid, cmdline(pid)] as const),
    );
    try {
      await Promise.all(this.hosts.map((h) => h.dispatcher.stop(graceMs).catch(() => undefined)));
      await Promise.all(this.hosts.map((h) => h.router.stop(graceMs).catch(() => undefined)));
      // a worker its primary did not stop (the primary hit its grace period): by pid, if the pid is still that worker
      for (const [w, cmd] of workers)
        if (cmd && cmdline(w) === cmd)
          try {
            process.kill(w, 'SIGKILL');
          } catch {
            // gone meanwhile
          }
      if (this.ownsLab) await this.lab.dispose();
    } finally {
      fs.rmSync(this.dir, { recursive: true, force: true });
      for (const h of this.hosts) fs.rmSync(`/run/switchyard/${h.id}`, { recursive: true, force: true });
    }
  }
}

/** SIGKILL to a process group (a dead process's leftovers); nothing when the group is already empty. */
function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // the group is empty
  }
}

function childrenOf(pid: number): number[] {
  try {
    return fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function cmdline(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
}

/** Sum of the samples of `name` in a Prometheus text exposition whose line contains `match`. */
export function sumMetric(text: string, name: string, match = ''): number {
  let sum = 0;
  for (const line of text.split('\n'))
    if (
      line.startsWith(name) &&
      (line[name.length] === ' ' || line[name.length] === '{') &&
      line.includes(match)
    )
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
