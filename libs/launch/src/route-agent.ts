/**
 * The ECMP route agent of a namespace POP: it withdraws a dead host's nexthop from the VIP's multipath route (and
 * restores it when the host is back), so new flows stop landing on a host that cannot answer. It plays, in the lab
 * and in `tools/stack --netns`, the role a BGP speaker with a health check plays in production (each host announces
 * the VIP; the announcement is withdrawn when the host's health check fails, and the upstream router's ECMP set
 * shrinks): see docs/pop-router.md.
 *
 * Split as the style asks: {@link nexthopDecision} is the pure core (host probes and gossip views in, the set of
 * hosts to route to out); {@link RouteAgent} is the thin adapter that probes each host's pop-router
 * (`GET /v1/hosts`, contract C3) from the router namespace and runs `ip route replace` when the set changes.
 */
import { LaunchError } from './errors.js';
import { routeArgs, runCommand, type Nexthop } from './netns.js';

/** What one host's pop-router answered to `GET /v1/hosts` (C3), or `undefined` when it did not answer. */
export interface HostsView {
  self: string;
  hosts: { id: string; state: 'alive' | 'suspect' | 'dead' | 'left' | string }[];
}

/** Per host the agent knows: its probe history and its latest view. */
export interface ProbeState {
  id: string;
  /** consecutive failed probes (0: the last one answered) */
  failures: number;
  /** the last answer (undefined: never answered) */
  view?: HostsView;
}

/** The defaults of the route agent, one comment per value. */
export const ROUTE_AGENT_DEFAULTS = {
  /** probe period: 4 probes per second keeps detection well inside the gossip test profile's death bound */
  intervalMs: 250,
  /** consecutive failed probes before a host is withdrawn on its own evidence: one lost probe under load is noise */
  failuresToWithdraw: 3,
  /** a probe's own time bound (curl --max-time), seconds */
  probeTimeoutS: 1,
} as const;

/**
 * The hosts to keep in the ECMP set, in configured order. A host is withdrawn when its own pop-router failed
 * `failuresToWithdraw` probes in a row, or when a majority of the pop-routers that answer mark it `dead` or `left`
 * (gossip saw it die, possibly before our probes did). Never empty: if every host would be withdrawn the whole set is
 * kept, because an empty route black-holes every flow, while a stale one loses only those of the dead hosts.
 */
export function nexthopDecision(
  hosts: readonly string[],
  probes: ReadonlyMap<string, ProbeState>,
  failuresToWithdraw: number = ROUTE_AGENT_DEFAULTS.failuresToWithdraw,
): string[] {
  const answering = [...probes.values()].filter((p) => p.failures === 0 && p.view);
  const keep = hosts.filter((id) => {
    const own = probes.get(id);
    if (own && own.failures >= failuresToWithdraw) return false;
    const deadVotes = answering.filter((p) =>
      p.view!.hosts.some((h) => h.id === id && (h.state === 'dead' || h.state === 'left')),
    ).length;
    return !(answering.length > 0 && deadVotes * 2 > answering.length);
  });
  return keep.length > 0 ? keep : [...hosts];
}

export interface RouteAgentHost {
  id: string;
  /** the host's address on the POP network: the nexthop, and where its pop-router's API listens */
  address: string;
}

export interface RouteAgentInit {
  /** the namespace holding the route (the ECMP router) */
  ns: string;
  /** the route's destination, e.g. `198.19.0.100/32` */
  dest: string;
  /** the device the nexthops are on */
  dev: string;
  hosts: readonly RouteAgentHost[];
  /** pop-router API port (C3) */
  routerPort: number;
  /** bearer token, if the API needs one for `/v1/hosts` */
  token?: string;
  intervalMs?: number;
  failuresToWithdraw?: number;
  /** called after every route change with the new set (logging, tests) */
  onChange?: (ids: string[]) => void;
}

/**
 * Probes every host's pop-router from the router namespace and keeps the route's nexthops equal to
 * {@link nexthopDecision}. `start()` installs the route over every host; `stop()` ends the probing (the route stays:
 * the namespace's owner deletes it with the namespace).
 */
export class RouteAgent {
  private readonly probes = new Map<string, ProbeState>();
  private current: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** route changes made (for reports) */
  readonly changes: { at: number; ids: string[] }[] = [];

  constructor(private readonly init: RouteAgentInit) {
    for (const h of init.hosts) this.probes.set(h.id, { id: h.id, failures: 0 });
  }

  /** The ids currently routed to. */
  get routed(): readonly string[] {
    return this.current;
  }

  async start(): Promise<void> {
    await this.apply(this.init.hosts.map((h) => h.id));
    const tick = () => {
      if (this.stopped) return;
      this.running = this.round()
        .catch(() => undefined)
        .finally(() => {
          if (!this.stopped)
            this.timer = setTimeout(tick, this.init.intervalMs ?? ROUTE_AGENT_DEFAULTS.intervalMs);
        });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** One probe round: every host at once, then the decision, then `ip route replace` if the set changed. */
  async round(): Promise<void> {
    await Promise.all(
      this.init.hosts.map(async (h) => {
        const p = this.probes.get(h.id)!;
        const view = await this.probe(h).catch(() => undefined);
        if (view) {
          p.failures = 0;
          p.view = view;
        } else p.failures++;
      }),
    );
    const next = nexthopDecision(
      this.init.hosts.map((h) => h.id),
      this.probes,
      this.init.failuresToWithdraw ?? ROUTE_AGENT_DEFAULTS.failuresToWithdraw,
    );
    if (next.join(',') !== this.current.join(',') && !this.stopped) await this.apply(next);
  }

  private async probe(h: RouteAgentHost): Promise<HostsView> {
    const out = await runCommand('ip', [
      'netns',
      'exec',
      this.init.ns,
      'curl',
      '-sf',
      '--max-time',
      String(ROUTE_AGENT_DEFAULTS.probeTimeoutS),
      ...(this.init.token ? ['-H', `Authorization: Bearer ${this.init.token}`] : []),
      `http://${h.address}:${this.init.routerPort}/v1/hosts`,
    ]);
    const v = JSON.parse(out) as HostsView;
    if (!Array.isArray(v.hosts)) throw new LaunchError('LNC_ERR_NETNS', `${h.id}: /v1/hosts without hosts`);
    return v;
  }

  private async apply(ids: string[]): Promise<void> {
    const hops: Nexthop[] = ids.map((id) => ({
      via: this.init.hosts.find((h) => h.id === id)!.address,
      dev: this.init.dev,
    }));
    await runCommand('ip', ['-n', this.init.ns, 'route', 'replace', ...routeArgs(this.init.dest, hops)]);
    this.current = ids;
    this.changes.push({ at: Date.now(), ids });
    this.init.onChange?.(ids);
  }
}
