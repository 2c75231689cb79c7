/**
 * Network namespaces for tests, benchmarks and `tools/stack --netns` (contract C11): namespaces, veth pairs,
 * addresses, routes (ECMP multipath `nexthop`s included), sysctls, nftables rulesets and processes run inside a
 * namespace (`ip netns exec`). Everything is made through one {@link NetnsLab}; its `dispose()` stops the processes
 * it started (by pid) and deletes the namespaces it made (which removes their links, addresses and routes), so a
 * `finally { await lab.dispose() }` leaves nothing behind. Root only (CI runs as root); the host's own namespace,
 * routes and addresses are never touched.
 *
 * @example
 * ```ts
 * const lab = await NetnsLab.create('vxlan-t1');
 * try {
 *   const r = await lab.namespace('r');
 *   const h = await lab.namespace('h1');
 *   await lab.veth({ ns: r, name: 'r-h1', address: '198.18.1.1/24' }, { ns: h, name: 'h1-r', address: '198.18.1.2/24' });
 *   lab.exec(h, 'node', ['server.js']);
 * } finally {
 *   await lab.dispose();
 * }
 * ```
 */
import { execFile } from 'node:child_process';
import { LaunchError } from './errors.js';
import { spawnProcess, type Spawned, type SpawnProcessOptions } from './processes.js';

/** Longest interface name Linux accepts (IFNAMSIZ - 1). */
export const MAX_IFNAME = 15;

/** One side of a veth pair. */
export interface VethEnd {
  /** Namespace name (as returned by {@link NetnsLab.namespace}). */
  ns: string;
  /** Interface name (at most {@link MAX_IFNAME} characters). */
  name: string;
  /** Address with prefix length, e.g. `198.18.1.1/24`; none: no address. */
  address?: string;
  /** A bridge (made with {@link NetnsLab.bridge}) in the same namespace to enslave this end to. */
  master?: string;
}

/** A route's next hop: a gateway address, optionally through a named device. */
export interface Nexthop {
  via: string;
  dev?: string;
  weight?: number;
}

/** Runs a command to completion; rejects with LNC_ERR_NETNS naming the command and its stderr. */
export function runCommand(command: string, args: readonly string[], timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        reject(
          new LaunchError(
            code === 'ENOENT' ? 'LNC_ERR_NOT_INSTALLED' : 'LNC_ERR_NETNS',
            code === 'ENOENT'
              ? `${command} is not installed (Debian package iproute2 / nftables)`
              : `${command} ${args.join(' ')}: ${stderr.trim() || err.message}`,
            { cause: err },
          ),
        );
        return;
      }
      resolve(stdout);
    });
  });
}

/** The `ip route` arguments of a destination over one or more next hops (several: an ECMP multipath route). */
export function routeArgs(dest: string, hops: readonly Nexthop[]): string[] {
  if (hops.length === 0) throw new LaunchError('LNC_ERR_NETNS', `route to ${dest}: no next hop`);
  const one = (h: Nexthop) => ['via', h.via, ...(h.dev ? ['dev', h.dev] : [])];
  if (hops.length === 1 && hops[0]!.weight === undefined) return [dest, ...one(hops[0]!)];
  return [
    dest,
    ...hops.flatMap((h) => ['nexthop', ...one(h), ...(h.weight ? ['weight', String(h.weight)] : [])]),
  ];
}

export class NetnsLab {
  private readonly made: string[] = [];
  private readonly procs: Spawned[] = [];
  private disposed = false;

  private constructor(readonly prefix: string) {}

  /**
   * A lab whose namespaces are all named `<prefix>-<name>`. Fails with LNC_ERR_NETNS when not root; namespaces left
   * by an earlier run with the same prefix (a killed test) are deleted first.
   */
  static async create(prefix: string): Promise<NetnsLab> {
    if (!/^[a-z0-9][a-z0-9-]{0,23}$/.test(prefix))
      throw new LaunchError('LNC_ERR_NETNS', `bad namespace prefix ${JSON.stringify(prefix)}`);
    if (process.getuid?.() !== 0) throw new LaunchError('LNC_ERR_NETNS', 'network namespaces need root');
    const lab = new NetnsLab(prefix);
    for (const ns of await listNamespaces())
      if (ns.startsWith(`${prefix}-`)) await runCommand('ip', ['netns', 'del', ns]).catch(() => undefined);
    return lab;
  }

  /** Whether this process may make namespaces (root, and `ip` present). */
  static async available(): Promise<boolean> {
    if (process.getuid?.() !== 0) return false;
    return runCommand('ip', ['netns', 'list']).then(
      () => true,
      () => false,
    );
  }

  /** Makes namespace `<prefix>-<name>` with its `lo` up; returns its full name. */
  async namespace(name: string): Promise<string> {
    this.live();
    const ns = `${this.prefix}-${name}`;
    await runCommand('ip', ['netns', 'add', ns]);
    this.made.push(ns);
    await this.ip(ns, 'link', 'set', 'lo', 'up');
    return ns;
  }

  /** A veth pair between two namespaces, both ends up, with their addresses. */
  async veth(a: VethEnd, b: VethEnd): Promise<void> {
    this.live();
    for (const e of [a, b])
      if (e.name.length > MAX_IFNAME)
        throw new LaunchError('LNC_ERR_NETNS', `interface name ${e.name} longer than ${MAX_IFNAME}`);
    await runCommand('ip', [
      'link',
      'add',
      a.name,
      'netns',
      a.ns,
      'type',
      'veth',
      'peer',
      'name',
      b.name,
      'netns',
      b.ns,
    ]);
    for (const e of [a, b]) {
      if (e.master) await this.ip(e.ns, 'link', 'set', e.name, 'master', e.master);
      if (e.address) await this.address(e.ns, e.name, e.address);
      await this.ip(e.ns, 'link', 'set', e.name, 'up');
    }
  }

  /**
   * A bridge in `ns` (one L2 segment for several namespaces' veths, e.g. a POP's internal network carrying
   * multicast gossip; multicast snooping off so every group datagram floods), up, with an optional address.
   */
  async bridge(ns: string, name: string, address?: string): Promise<void> {
    await this.ip(ns, 'link', 'add', name, 'type', 'bridge', 'mcast_snooping', '0');
    if (address) await this.address(ns, name, address);
    await this.ip(ns, 'link', 'set', name, 'up');
  }

  /** Adds `cidr` to `dev` in `ns`. */
  async address(ns: string, dev: string, cidr: string): Promise<void> {
    await this.ip(ns, 'addr', 'add', cidr, 'dev', dev);
  }

  /** Adds a route (several next hops: ECMP multipath). */
  async route(ns: string, dest: string, hops: readonly Nexthop[]): Promise<void> {
    await this.ip(ns, 'route', 'add', ...routeArgs(dest, hops));
  }

  /** Replaces a route atomically (e.g. one nexthop fewer mid-run: flows move to other hosts). */
  async replaceRoute(ns: string, dest: string, hops: readonly Nexthop[]): Promise<void> {
    await this.ip(ns, 'route', 'replace', ...routeArgs(dest, hops));
  }

  /** A default route. */
  async defaultRoute(ns: string, via: string): Promise<void> {
    await this.ip(ns, 'route', 'add', 'default', 'via', via);
  }

  /** Sets a sysctl inside `ns` (e.g. `net.ipv4.ip_forward`, `net.ipv4.fib_multipath_hash_policy`). */
  async sysctl(ns: string, key: string, value: string | number): Promise<void> {
    await this.run(ns, 'sysctl', ['-q', '-w', `${key}=${value}`]);
  }

  /** Loads an nftables ruleset (`nft -f -` syntax) into `ns`. */
  async nft(ns: string, ruleset: string): Promise<void> {
    this.live();
    await new Promise<void>((resolve, reject) => {
      const child = execFile(
        'ip',
        ['netns', 'exec', ns, 'nft', '-f', '-'],
        { timeout: 15_000 },
        (err, _o, e) =>
          err
            ? reject(new LaunchError('LNC_ERR_NETNS', `nft in ${ns}: ${String(e).trim() || err.message}`))
            : resolve(),
      );
      child.stdin?.end(ruleset);
    });
  }

  /** `ip -n <ns> …`, to completion; returns stdout. */
  ip(ns: string, ...args: string[]): Promise<string> {
    this.live();
    return runCommand('ip', ['-n', ns, ...args]);
  }

  /** Runs a command inside `ns` to completion; returns stdout. */
  run(ns: string, command: string, args: readonly string[] = [], timeoutMs?: number): Promise<string> {
    this.live();
    return runCommand('ip', ['netns', 'exec', ns, command, ...args], timeoutMs);
  }

  /**
   * Starts a long-running process inside `ns` (`ip netns exec` execs it, so the pid is the program's own); stopped
   * by `dispose()` if still running.
   */
  exec(ns: string, command: string, args: readonly string[], options: SpawnProcessOptions = {}): Spawned {
    this.live();
    const p = spawnProcess('ip', ['netns', 'exec', ns, command, ...args], options);
    this.procs.push(p);
    return p;
  }

  /** The namespaces made so far. */
  get namespaces(): readonly string[] {
    return this.made;
  }

  /** Stops every process started with {@link exec} (by pid) and deletes every namespace made. Idempotent. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.all(this.procs.map((p) => p.stop(2_000).catch(() => undefined)));
    const errors: unknown[] = [];
    for (const ns of this.made.reverse())
      await runCommand('ip', ['netns', 'del', ns]).catch((e) => errors.push(e));
    if (errors.length) throw errors[0];
  }

  private live(): void {
    if (this.disposed) throw new LaunchError('LNC_ERR_NETNS', `lab ${this.prefix} already disposed`);
  }
}

/** Names of the namespaces that exist (`ip netns list`). */
export async function listNamespaces(): Promise<string[]> {
  const out = await runCommand('ip', ['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.split(' ')[0]!.trim())
    .filter(Boolean);
}
