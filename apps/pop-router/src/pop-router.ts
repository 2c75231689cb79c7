/**
 * One POP host's router (`Startable`): the gossip member (membership + ownership), the host table, the link to the
 * local dispatcher, the `udp` tunnel socket and the control API, composed around the pure {@link RouterCore}.
 */
import dgram from 'node:dgram';
import type { FastifyInstance } from 'fastify';
import {
  hasCode,
  RateLimitedLog,
  silentLogger,
  systemClock,
  SwitchyardError,
  type Clock,
  type Logger,
  type Startable,
  type TimerHandle,
} from '@switchyard/core';
import {
  GOSSIP_TEST_PROFILE,
  GossipNode,
  UdpMulticastTransport,
  UdpUnicastTransport,
  type KeyringInit,
  type Transport,
} from '@switchyard/gossip';
import {
  deriveOwnerKeys,
  TunnelOpener,
  tunnelKeysToWire,
  writeInjectedFrame,
  type DispatcherToRouter,
  type KernelForwardWire,
  type OwnerKeys,
  type TunnelKeys,
  vxlanMacFor,
} from '@switchyard/pop-wire';
import { buildApi, type HostView, type PopControl, type SessionView } from './api/api.js';
import { PopRouterError } from './errors.js';
import { HostTable } from './hosts/host-table.js';
import { DispatcherLink } from './link/dispatcher-link.js';
import { PopRouterMetrics } from './metrics.js';
import { drainMarker, isDrainMarker, RouterCore, type RouterCommand } from './ownership/router-core.js';
import type { PopRouterConfig } from './settings.js';
import { VxlanDevice } from './vxlan/vxlan-device.js';
import { KernelForwardAttach } from './kernel-forward/kernel-forward-attach.js';

export interface PopRouterComponents {
  clock?: Clock;
  logger?: Logger;
  /** Gossip transport; default: UDP multicast or unicast per the config. Tests pass a MemoryTransport. */
  transport?: Transport;
}

export type PopRouterInit = PopRouterConfig & { keyring: KeyringInit; tunnelKeys: TunnelKeys; token: string };

/** Largest datagram carried (a full UDP payload) plus headers. */
const MAX_FRAME = 65_535 + 128;

export class PopRouter implements Startable, PopControl {
  readonly metrics = new PopRouterMetrics();
  readonly node: GossipNode;
  readonly hostTable: HostTable;
  readonly core: RouterCore;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly badInput: RateLimitedLog;
  private link: DispatcherLink | undefined;
  /** Releases lingering sessions whose linger ran out (see `--release-linger-ms`). */
  private lingerTimer: TimerHandle | undefined;
  private tunnel: dgram.Socket | undefined;
  private opener: TunnelOpener | undefined;
  private api: FastifyInstance | undefined;
  private readonly frame = Buffer.allocUnsafe(MAX_FRAME);
  private state: 'new' | 'running' | 'stopped' = 'new';
  private apiUrl = '';
  /** The kernel set-up made by `--vxlan-setup` (undone on stop). */
  private vxlan: VxlanDevice | undefined;
  /** `--kernel-forward`: the attached classifier and its maps (sent to the dispatcher in every snapshot). */
  private kernelForward: KernelForwardAttach | undefined;
  private kernelForwardWire: KernelForwardWire | undefined;
  /** Keys of the owner tokens in Contact (C9), derived from the keyring; sent to the dispatcher in every snapshot. */
  private readonly ownerKeys: OwnerKeys;

  constructor(
    components: PopRouterComponents,
    readonly config: Readonly<PopRouterInit>,
  ) {
    this.clock = components.clock ?? systemClock;
    this.logger = components.logger ?? silentLogger;
    this.badInput = new RateLimitedLog(this.logger, this.clock, 10, 1000);
    try {
      this.ownerKeys = deriveOwnerKeys(config.keyring);
    } catch (err) {
      if (hasCode(err, 'PWR_ERR_KEY'))
        throw new PopRouterError('POP_ERR_KEYRING', `owner keys: ${(err as Error).message}`, { cause: err });
      throw err;
    }
    const transport =
      components.transport ??
      (config.gossipTransport === 'unicast'
        ? new UdpUnicastTransport({ logger: this.logger }, { host: config.address, port: config.gossipPort })
        : new UdpMulticastTransport(
            { logger: this.logger },
            { group: config.multicastGroup, port: config.gossipPort, interfaceAddress: config.address },
          ));
    this.node = new GossipNode(
      { transport, clock: this.clock, logger: this.logger },
      {
        id: config.id,
        keyring: config.keyring,
        seeds: config.seeds,
        config: config.gossipProfile === 'test' ? GOSSIP_TEST_PROFILE : {},
      },
    );
    this.hostTable = new HostTable({
      self: config.id,
      mode: config.encapsulation,
      tunnelPort: config.tunnelPort,
      vxlanPort: config.vxlanPort,
      vni: config.vni,
      innerAddress: config.innerAddress,
      sipPort: config.sipPort,
      keyId: config.tunnelKeys.primary,
    });
    this.core = new RouterCore(
      { ownership: { owner: (s) => this.node.owner(s) }, hosts: this.hostTable, now: () => this.clock.now() },
      { self: config.id, mode: config.encapsulation, releaseLingerMs: config.releaseLingerMs },
    );
  }

  get id(): string {
    return this.config.id;
  }

  /** The control API's base URL (port 0 resolved). */
  get url(): string {
    return this.apiUrl;
  }

  /** The tunnel socket's `host:port` (udp mode). */
  get tunnelAddress(): string | undefined {
    const a = this.tunnel?.address();
    return a ? `${a.address}:${a.port}` : undefined;
  }

  get dispatcherConnected(): boolean {
    return this.link?.connected ?? false;
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new PopRouterError('POP_ERR_STATE', `start() in state ${this.state}`);
    this.state = 'running';
    if (this.config.encapsulation === 'vxlan') {
      const dev = new VxlanDevice(this.config);
      if (this.config.vxlanSetup) {
        this.vxlan = dev;
        const made = await dev.setUp();
        if (made.length) this.logger.info({ made }, 'vxlan set up');
      } else dev.check();
    }
    try {
      const c = this.config;
      if ((c.kernelForward || c.kernelDecap) && c.encapsulation === 'vxlan') {
        this.kernelForward = new KernelForwardAttach({
          device: c.kernelForwardDevice,
          address: c.address,
          object: c.kernelForwardObject,
          egress: c.kernelForwardEgress,
          now: () => this.clock.now(),
          decap: c.kernelDecap
            ? {
                local: c.address,
                sources: c.kernelDecapSources,
                vxlanPort: c.vxlanPort,
                innerPort: c.sipPort,
                innerAddress: c.innerAddress,
                vni: c.vni,
                mac: vxlanMacFor(c.id),
              }
            : undefined,
        });
        const wire = await this.kernelForward.attach();
        // the dispatcher is offered the forward's maps only with --kernel-forward (decap alone needs no table)
        if (c.kernelForward) this.kernelForwardWire = wire;
        this.logger.info(
          {
            kernelForward: c.kernelForward ? wire : false,
            kernelDecap: this.kernelForward.decapSources ?? false,
            egress: this.kernelForward.egress?.name,
          },
          'kernel program attached',
        );
      }
      await this.startParts();
    } catch (err) {
      // leave the host as it was: a failed start removes the kernel set-up it made
      await this.kernelForward?.detach();
      await this.vxlan?.tearDown();
      throw err;
    }
    this.logger.info(
      { id: this.id, gossip: this.node.address, tunnel: this.tunnelAddress, api: this.apiUrl },
      'pop-router started',
    );
  }

  /** Gossip, tunnel socket, control API and the dispatcher link (after the vxlan set-up). */
  private async startParts(): Promise<void> {
    this.node.on((e) => {
      // a drain marker of ours from before a restart, while we are not draining: withdraw it
      if (
        e.type === 'owner-changed' &&
        e.session === drainMarker(this.id) &&
        !e.entry.closed &&
        e.entry.owner === this.id &&
        !this.core.isDraining
      )
        this.clock.setTimeout(() => this.gossipDrain(false), 0);
      for (const m of this.core.onGossip(e)) this.toDispatcher(m);
    });
    try {
      await this.node.start();
    } catch (err) {
      throw new PopRouterError('POP_ERR_GOSSIP', `gossip: ${(err as Error).message}`, {
        cause: err,
        details: { cause: err instanceof SwitchyardError ? err.code : undefined },
      });
    }
    for (const m of this.node.members()) this.hostTable.upsert(m);
    if (this.config.releaseLingerMs > 0)
      this.lingerTimer = this.clock.setInterval(
        () => this.run(this.core.tick(), 'dataplane'),
        Math.min(1000, this.config.releaseLingerMs),
      );
    if (this.config.encapsulation === 'udp') await this.bindTunnel();
    this.api = await buildApi({ control: this }, { token: this.config.token });
    try {
      this.apiUrl = await this.api.listen({ host: this.config.host, port: this.config.port });
    } catch (err) {
      throw new PopRouterError(
        'POP_ERR_BIND',
        `control API ${this.config.host}:${this.config.port}: ${String(err)}`,
        {
          cause: err,
        },
      );
    }
    if (this.config.dispatcherSocket) {
      this.link = new DispatcherLink(
        {
          clock: this.clock,
          logger: this.logger,
          handlers: {
            connected: () => this.onLinkUp(),
            disconnected: () => this.metrics.linkConnected.set(0),
            message: (m) => this.fromDispatcher(m),
            bad: () => {
              this.metrics.linkBad.inc();
              this.badInput.warn({}, 'malformed frame from the dispatcher');
            },
          },
        },
        { path: this.config.dispatcherSocket, retryMs: this.config.linkRetryMs, readBufferBytes: MAX_FRAME },
      );
      this.link.start();
    }
  }

  /** Leaves the POP gracefully (others mark us `left`, not dead), then closes everything. */
  async stop(): Promise<void> {
    if (this.state !== 'running') {
      this.state = 'stopped';
      return;
    }
    this.state = 'stopped';
    this.clock.clearInterval(this.lingerTimer);
    this.link?.stop();
    this.tunnel?.close();
    try {
      await this.node.leave();
    } catch (err) {
      this.logger.warn({ err }, 'leave failed');
    }
    await this.node.stop();
    await this.api?.close();
    await this.kernelForward?.detach();
    await this.vxlan?.tearDown();
    this.logger.info('pop-router stopped');
  }

  // ---- PopControl ----

  hosts(): HostView[] {
    const counts = new Map<string, number>();
    for (const e of this.node.ownerEntries())
      if (!e.closed && !isDrainMarker(e.session)) counts.set(e.owner, (counts.get(e.owner) ?? 0) + 1);
    for (const m of this.node.members()) this.hostTable.upsert(m);
    return this.hostTable.list().map((h) => ({
      id: h.id,
      address: h.address,
      tunnel: h.tunnel,
      state: h.status,
      incarnation: h.incarnation,
      // ours from the core; the others' from their gossiped drain markers
      draining: h.id === this.id ? this.core.isDraining : this.node.owner(drainMarker(h.id))?.owner === h.id,
      sessions: counts.get(h.id) ?? 0,
    }));
  }

  sessions(owner?: string): SessionView[] {
    return this.node
      .ownerEntries()
      .filter((e) => !e.closed && !isDrainMarker(e.session) && (owner === undefined || e.owner === owner))
      .map((e) => ({ id: e.session, owner: e.owner, epoch: e.epoch, version: e.version }));
  }

  session(id: string): SessionView | undefined {
    if (isDrainMarker(id)) return undefined;
    const e = this.node.owner(id);
    return e ? { id, owner: e.owner, epoch: e.epoch, version: e.version } : undefined;
  }

  claim(id: string, epoch: number): SessionView {
    if (isDrainMarker(id))
      throw new PopRouterError('POP_ERR_BAD_REQUEST', 'a session id cannot be a drain marker');
    try {
      this.node.claim(id, epoch);
    } catch (err) {
      if (hasCode(err, 'GSP_ERR_STALE_CLAIM'))
        throw new PopRouterError('POP_ERR_STALE_CLAIM', (err as Error).message, { cause: err });
      if (hasCode(err, 'GSP_ERR_BAD_ID'))
        throw new PopRouterError('POP_ERR_BAD_REQUEST', (err as Error).message, { cause: err });
      throw err;
    }
    this.metrics.claims.inc({ source: 'api' });
    return this.session(id)!;
  }

  release(id: string): void {
    const e = isDrainMarker(id) ? undefined : this.node.owner(id);
    if (!e) throw new PopRouterError('POP_ERR_NOT_FOUND', `no open session ${id}`);
    if (e.owner !== this.id) throw new PopRouterError('POP_ERR_NOT_OWNER', `${id} is owned by ${e.owner}`);
    this.node.close(id);
    this.metrics.releases.inc();
  }

  setDraining(draining: boolean): void {
    for (const m of this.core.setDraining(draining)) this.toDispatcher(m);
    if (draining) this.run(this.core.releaseLingering(), 'dataplane');
    this.gossipDrain(draining);
    this.metrics.draining.set(draining ? 1 : 0);
    this.logger.info({ draining }, draining ? 'draining: claiming nothing new' : 'undrained');
  }

  /** Tells the POP our drain state: we own our drain marker while draining (see {@link drainMarker}). */
  private gossipDrain(draining: boolean): void {
    if (this.state !== 'running') return;
    const marker = drainMarker(this.id);
    const e = this.node.owner(marker);
    try {
      if (draining && e?.owner !== this.id) this.node.claim(marker);
      else if (!draining && e?.owner === this.id) this.node.close(marker);
    } catch (err) {
      const code = err instanceof SwitchyardError ? err.code : 'internal';
      this.metrics.claimErrors.inc({ code });
    }
  }

  health(): { ok: boolean; id: string; members: number; dispatcher: boolean; draining: boolean } {
    const members = this.state === 'running' ? this.node.members().length : 0;
    const dispatcher = this.link ? this.link.connected : true;
    return {
      ok: this.state === 'running' && dispatcher,
      id: this.id,
      members,
      dispatcher,
      draining: this.core.isDraining,
    };
  }

  async metricsText(): Promise<{ contentType: string; body: string }> {
    this.refreshGauges();
    const k = await this.kernelForward?.counters().catch((err: unknown) => {
      this.logger.warn({ err }, 'kernel program counters unreadable');
      return undefined;
    });
    if (k && this.kernelForward?.decapSources) {
      this.metrics.kernelDecap.set({ event: 'decapsulated' }, k.decapsulated);
      this.metrics.kernelDecap.set({ event: 'refused_outside' }, k.refusedOutside);
      this.metrics.kernelDecap.set({ event: 'not_matching' }, k.notMatching);
    }
    if (k && this.config.kernelForward) {
      this.metrics.kernelForward.set({ event: 'forwarded' }, k.forwarded);
      this.metrics.kernelForward.set({ event: 'not_encapsulated' }, k.notEncapsulated);
      this.metrics.kernelForward.set({ event: 'egress_redirect' }, k.egressRedirect);
      this.metrics.kernelForward.set({ event: 'egress_peer' }, k.egressPeer);
      this.metrics.kernelForward.set({ event: 'egress_neigh' }, k.egressNeigh);
      this.metrics.kernelForward.set({ event: 'arp_learned' }, k.arpLearned);
    }
    return { contentType: this.metrics.registry.contentType, body: await this.metrics.registry.metrics() };
  }

  private refreshGauges(): void {
    const m = this.metrics;
    const states = { alive: 0, suspect: 0, dead: 0, left: 0 };
    for (const x of this.node.members()) states[x.status]++;
    for (const [state, n] of Object.entries(states)) m.members.set({ state }, n);
    let owned = 0;
    let known = 0;
    for (const e of this.node.ownerEntries()) {
      if (e.closed || isDrainMarker(e.session)) continue;
      known++;
      if (e.owner === this.id) owned++;
    }
    m.ownedSessions.set(owned);
    m.knownSessions.set(known);
    const c = this.core.counters;
    m.core.set({ event: 'claims_redirected' }, c.claimsRedirected);
    m.core.set({ event: 'claims_refused_draining' }, c.claimsRefusedDraining);
    m.core.set({ event: 'lost_with_dialogs' }, c.lostWithDialogs);
    m.core.set({ event: 'held_elsewhere' }, c.heldElsewhere);
    m.core.set({ event: 'kept_assigned' }, c.keptAssigned);
    m.core.set({ event: 'lingered' }, c.lingered);
    m.core.set({ event: 'linger_reused' }, c.lingerReused);
    m.core.set({ event: 'linger_released' }, c.lingerReleased);
    m.lingering.set(this.core.lingeringCount);
    for (const [reason, n] of Object.entries(this.node.stats().dropped)) m.gossipDropped.set({ reason }, n);
  }

  // ---- link ----

  /** A message of the local dispatcher's data plane (claim, release, held, dialog reports), as the link delivers it. */
  fromDispatcher(m: DispatcherToRouter): void {
    this.metrics.linkMessages.inc({ dir: 'in' });
    this.run(this.core.onDispatcher(m), m.event === 'held' ? 'held' : 'dataplane');
  }

  private onLinkUp(): void {
    this.metrics.linkConnects.inc();
    this.metrics.linkConnected.set(1);
    const keys = this.config.encapsulation === 'udp' ? tunnelKeysToWire(this.config.tunnelKeys) : undefined;
    const ownerKeys = tunnelKeysToWire(this.ownerKeys);
    for (const m of this.core.snapshot(this.node.members(), this.node.ownerEntries(), keys, ownerKeys)) {
      if (m.kind === 'snapshot' && this.kernelForwardWire) m.kernelForward = this.kernelForwardWire;
      this.toDispatcher(m);
    }
  }

  private toDispatcher(m: Parameters<DispatcherLink['send']>[0]): void {
    if (this.link?.send(m)) this.metrics.linkMessages.inc({ dir: 'out' });
  }

  private run(commands: RouterCommand[], source: 'dataplane' | 'held'): void {
    for (const c of commands) {
      try {
        if (c.type === 'send') this.toDispatcher(c.msg);
        else if (c.type === 'claim') {
          this.node.claim(c.session);
          this.metrics.claims.inc({ source });
        } else {
          this.node.close(c.session);
          this.metrics.releases.inc();
        }
      } catch (err) {
        // e.g. a session id the gossip wire cannot carry: count it, keep going
        const code = err instanceof SwitchyardError ? err.code : 'internal';
        this.metrics.claimErrors.inc({ code });
        this.badInput.warn(
          { code, session: c.type === 'send' ? undefined : c.session },
          'claim/close refused',
        );
      }
    }
  }

  // ---- udp tunnel ----

  private async bindTunnel(): Promise<void> {
    this.opener = new TunnelOpener(this.clock, {
      self: this.id,
      keys: this.config.tunnelKeys,
      maxAgeMs: this.config.tunnelMaxAgeMs,
    });
    const s = dgram.createSocket({ type: 'udp4' });
    await new Promise<void>((resolve, reject) => {
      s.once('error', (err) =>
        reject(
          new PopRouterError(
            'POP_ERR_BIND',
            `tunnel ${this.config.address}:${this.config.tunnelPort}: ${err.message}`,
            {
              cause: err,
            },
          ),
        ),
      );
      s.bind(this.config.tunnelPort, this.config.address, () => resolve());
    });
    try {
      s.setRecvBufferSize(4 * 1024 * 1024);
    } catch {
      // capped by net.core.rmem_max; the default holds at low rates
    }
    s.on('error', (err) => this.logger.warn({ err }, 'tunnel socket error'));
    s.on('message', (msg) => this.onTunnel(msg));
    this.tunnel = s;
  }

  private onTunnel(msg: Buffer): void {
    this.metrics.tunnelReceived.inc();
    const r = this.opener!.open(msg);
    if (!r.ok) {
      this.metrics.tunnelDropped.inc({ reason: r.reason });
      this.badInput.warn({ reason: r.reason, bytes: msg.length }, 'tunnel datagram dropped');
      return;
    }
    const n = writeInjectedFrame(this.frame, r.local, r.address, r.port, r.payload);
    if (n < 0) {
      this.metrics.tunnelDropped.inc({ reason: 'too-large' });
      return;
    }
    if (!this.link?.write(this.frame, n)) {
      this.metrics.tunnelDropped.inc({ reason: 'no-dispatcher' });
      return;
    }
    this.metrics.tunnelInjected.inc();
  }
}
