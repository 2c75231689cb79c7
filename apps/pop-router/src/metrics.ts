/** Prometheus metrics of one pop-router (its own prom-client registry, so several can live in one process). */
import { Counter, Gauge, Registry } from 'prom-client';

export class PopRouterMetrics {
  readonly registry = new Registry();
  private readonly r = [this.registry];
  readonly tunnelReceived = new Counter({
    name: 'pop_tunnel_received_total',
    help: 'datagrams received on the udp tunnel socket',
    registers: this.r,
  });
  readonly tunnelDropped = new Counter({
    name: 'pop_tunnel_dropped_total',
    help: 'tunnel datagrams dropped, by reason (bad-mac, replay, stale, not-for-us, no-dispatcher …)',
    labelNames: ['reason'] as const,
    registers: this.r,
  });
  readonly tunnelInjected = new Counter({
    name: 'pop_tunnel_injected_total',
    help: 'tunnel datagrams authenticated and injected into the dispatcher',
    registers: this.r,
  });
  readonly kernelDecap = new Gauge({
    name: 'pop_kernel_decap',
    help: '--kernel-decap: VXLAN datagrams the tc program decapsulated, refused (outer source outside the POP network: left to the stack and its fence) or left to vx0 (not matching the template); read from the program at each scrape',
    labelNames: ['event'] as const,
    registers: this.r,
  });
  readonly kernelForward = new Gauge({
    name: 'pop_kernel_forward',
    help: "--kernel-forward: the tc program's forwards (forwarded, not_encapsulated) and how they left (egress_redirect: with the owner's MAC learned from ARP, egress_peer: of those into the veth peer, egress_neigh: the kernel's neighbour lookup; arp_learned: ARP senders learned); read from the program at most once a second",
    labelNames: ['event'] as const,
    registers: this.r,
  });
  readonly linkConnected = new Gauge({
    name: 'pop_dispatcher_link_up',
    help: '1 while the link to the local dispatcher is connected',
    registers: this.r,
  });
  readonly linkConnects = new Counter({
    name: 'pop_dispatcher_link_connects_total',
    help: 'connections to the dispatcher (each one starts with a snapshot)',
    registers: this.r,
  });
  readonly linkMessages = new Counter({
    name: 'pop_dispatcher_link_messages_total',
    help: 'link messages, by direction (in: from the dispatcher, out: to it)',
    labelNames: ['dir'] as const,
    registers: this.r,
  });
  readonly linkBad = new Counter({
    name: 'pop_dispatcher_link_bad_total',
    help: 'malformed frames from the dispatcher',
    registers: this.r,
  });
  readonly claims = new Counter({
    name: 'pop_claims_total',
    help: 'claims made by this host, by source (dataplane, held, api)',
    labelNames: ['source'] as const,
    registers: this.r,
  });
  readonly claimErrors = new Counter({
    name: 'pop_claim_errors_total',
    help: 'claims the gossip member refused, by code',
    labelNames: ['code'] as const,
    registers: this.r,
  });
  readonly releases = new Counter({
    name: 'pop_releases_total',
    help: 'sessions closed by this host (last local dialog ended, or the API)',
    registers: this.r,
  });
  readonly members = new Gauge({
    name: 'pop_members',
    help: 'POP members known here, by state',
    labelNames: ['state'] as const,
    registers: this.r,
  });
  readonly ownedSessions = new Gauge({
    name: 'pop_owned_sessions',
    help: 'open sessions owned by this host',
    registers: this.r,
  });
  readonly knownSessions = new Gauge({
    name: 'pop_known_sessions',
    help: 'open sessions in the ownership map',
    registers: this.r,
  });
  readonly core = new Gauge({
    name: 'pop_router_events',
    help:
      'router decisions so far: claims_redirected, claims_refused_draining, lost_with_dialogs, held_elsewhere, ' +
      'kept_assigned, lingered (release deferred: last dialog ended), linger_reused (a new dialog within the ' +
      'linger), linger_released (released when the linger ran out or the host started draining)',
    labelNames: ['event'] as const,
    registers: this.r,
  });
  readonly lingering = new Gauge({
    name: 'pop_lingering_sessions',
    help: 'sessions owned here with no dialog left, kept claimed until --release-linger-ms runs out',
    registers: this.r,
  });
  readonly gossipDropped = new Gauge({
    name: 'pop_gossip_dropped',
    help: 'gossip datagrams dropped so far, by reason (bad MAC, malformed, too old …)',
    labelNames: ['reason'] as const,
    registers: this.r,
  });
  readonly draining = new Gauge({
    name: 'pop_draining',
    help: '1 while this host claims nothing new',
    registers: this.r,
  });
}
