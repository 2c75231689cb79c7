/**
 * The thin adapter between the primary's UDP ingress and the pure {@link PopDataPlane}: decodes the router's table
 * frames, sends forwarded datagrams, passes claims/releases/`held` back to the router, and exposes the counters.
 * It is the primary's {@link PopRouting} hook: called for each UDP message no worker here holds.
 *
 * Sending (the forward's hot path): one UDP socket per destination host, **connected** to its tunnel endpoint and
 * bound to no service address (C15: the kernel picks this host's own source address towards the owner; from the VIP
 * socket the owner would drop it as a martian). Connected, `send` skips the per-datagram address resolution an
 * unconnected socket does (`dgram` looks the address string up and sends on a later tick), and Node sends at once
 * (`uv_udp_try_send`) when the socket's queue is empty. In vxlan mode nothing is copied or allocated per datagram:
 * the destination's 50-byte header (a copy of its template) is patched in place and sent with the received payload
 * as one datagram from a buffer list. If a send had to be queued (the socket buffer was full) the header is still
 * referenced by it: that destination gets a fresh header for the next datagram.
 */
import dgram from 'node:dgram';
import { Gauge, type Registry } from 'prom-client';
import type { SipKeys } from '@switchyard/affinity';
import { RateLimitedLog, type Clock, type Logger, type TimerHandle } from '@switchyard/core';
import {
  decodeRouterMessage,
  encodeLinkFrame,
  heldChunks,
  LINK_FRAME_SESSION,
  LINK_FRAME_TABLE,
  parseIpv4,
  TUNNEL_MAX_OVERHEAD,
  type RouterToDispatcher,
  writeVxlanHeader,
} from '@switchyard/pop-wire';
import { PopDataPlane, type PopHost } from './pop-data-plane.js';
import {
  clientKey,
  KERNEL_FORWARD_DEFAULTS,
  KernelForwardTable,
  type KernelForwardAction,
  type KernelForwardInit,
} from './kernel-forward-table.js';
import { KernelForwardMap } from './kernel-forward-map.js';
import type { IngressPacket, PopRouting, PopVerdict } from '../ingress/routing.js';

export { LINK_FRAME_TABLE };

/** A destination host's connected socket and its reusable vxlan header. */
interface Sender {
  /** The host as last seen (the data plane makes a new object per table update; endpoint and template compared). */
  host: PopHost;
  readonly socket: dgram.Socket;
  /** Until the connect completes, datagrams go through the shared unconnected socket (with a header of their own). */
  connected: boolean;
  /** vxlan mode: a copy of the host's template, patched per datagram. */
  header: Buffer;
}

export class PopIngress implements PopRouting {
  readonly plane: PopDataPlane;
  private readonly badInput: RateLimitedLog;

  constructor(components: {
    clock: Clock;
    logger: Logger;
    registry: Registry;
    send: (frame: Buffer) => void;
    /** This host's owner token for the workers' Contact (C9), whenever a router's snapshot (re)sets it. */
    ownerToken?: (token: string | undefined) => void;
    /** The tunnel sockets' factory (default: an IPv4 UDP socket bound to no service address). */
    createSocket?: () => dgram.Socket;
    /** The UDP port of service address `local` (the kernel forward's key names it). */
    servicePort?: (local: number) => number;
    /** Kernel forward delegation settings (default {@link KERNEL_FORWARD_DEFAULTS}). */
    kernelForward?: KernelForwardInit;
  }) {
    this.clock = components.clock;
    this.logger = components.logger;
    this.servicePortOf = components.servicePort;
    this.kfInit = components.kernelForward ?? KERNEL_FORWARD_DEFAULTS;
    this.plane = new PopDataPlane({ now: () => components.clock.now() });
    this.createSocket = components.createSocket ?? (() => dgram.createSocket('udp4'));
    this.badInput = new RateLimitedLog(components.logger, components.clock, 10, 1000);
    this.send = components.send;
    this.onOwnerToken = components.ownerToken;
    const plane = this.plane;
    new Gauge({
      name: 'sipdisp_pop_events',
      help:
        'POP data plane so far: forwarded, claimed, disagreements, encap_failed, bad_table, token_routed, ' +
        'token_refused (forged owner tokens), token_stale (owner not alive), response_routed / response_refused / ' +
        "response_stale (responses by their top Via owner token, C14), followed (a forwarded call's retransmission or " +
        'CANCEL sent where its opening request went); owners = table size',
      labelNames: ['event'] as const,
      registers: [components.registry],
      collect() {
        const c = plane.counters;
        this.set({ event: 'forwarded' }, c.forwarded);
        this.set({ event: 'claimed' }, c.claimed);
        this.set({ event: 'disagreements' }, c.disagreements);
        this.set({ event: 'encap_failed' }, c.encapFailed);
        this.set({ event: 'bad_table' }, c.badTable);
        this.set({ event: 'owners' }, plane.ownerCount);
        this.set({ event: 'token_routed' }, c.tokenRouted);
        this.set({ event: 'token_refused' }, c.tokenRefused);
        this.set({ event: 'token_stale' }, c.tokenStale);
        this.set({ event: 'response_routed' }, c.responseRouted);
        this.set({ event: 'response_refused' }, c.responseRefused);
        this.set({ event: 'response_stale' }, c.responseStale);
        this.set({ event: 'followed' }, c.followed);
      },
    });
    const kf = (): { table: KernelForwardTable; map: KernelForwardMap } | undefined => this.kf;
    new Gauge({
      name: 'sipdisp_pop_kernel_forward',
      help:
        'Kernel forward (docs/pop-router.md): entries (now), installed, removed_<reason> (owner-gone, ' +
        'session-moved, idle, reset, failed), refused_full, write_failed, kernel_hits (datagrams the tc program ' +
        'forwarded, read every sweep), kernel_passed (hits it could not encapsulate)',
      labelNames: ['event'] as const,
      registers: [components.registry],
      collect() {
        const k = kf();
        if (!k) return;
        const c = k.table.counters;
        this.set({ event: 'entries' }, k.table.size);
        this.set({ event: 'installed' }, c.installed);
        for (const [r, n] of Object.entries(c.removed)) this.set({ event: `removed_${r}` }, n);
        this.set({ event: 'refused_full' }, c.refusedFull);
        this.set({ event: 'write_failed' }, k.map.writeFailed);
        this.set({ event: 'kernel_hits' }, k.map.hits);
        this.set({ event: 'kernel_passed' }, k.map.passed);
      },
    });
  }
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly servicePortOf: ((local: number) => number) | undefined;
  private readonly servicePorts: number[] = [];
  private readonly kfInit: KernelForwardInit;
  /** The kernel forward, while the router's snapshot offers one (vxlan mode, `--kernel-forward`). */
  private kf: { table: KernelForwardTable; map: KernelForwardMap; sweep: TimerHandle } | undefined;
  private readonly send: (frame: Buffer) => void;
  private readonly onOwnerToken: ((token: string | undefined) => void) | undefined;
  private readonly createSocket: () => dgram.Socket;
  /** Destination host id → its connected socket; replaced when the host's endpoint or template changes. */
  private readonly senders = new Map<string, Sender>();
  private fallback: dgram.Socket | undefined;
  /** The last client address parsed for a vxlan header, and its value: a client sends many datagrams in a row. */
  private lastAddress = '';
  private lastAddressValue = -1;

  /**
   * The primary's {@link PopRouting} hook, called for a message no worker here holds: `forwarded` when it was
   * encapsulated to its owner host, `claim` when it is (or becomes) this host's.
   */
  unowned(packet: IngressPacket, keys: SipKeys): PopVerdict {
    const d = this.plane.decide(keys, packet.injected, packet.payload);
    this.flush();
    // the data plane never forwards an injected datagram; the guard keeps one forward at most if that changed
    if (d.kind === 'local' || packet.injected) {
      if (this.kf && !packet.injected)
        this.kf.table.handledHere(clientKey(packet.address, packet.port, this.servicePort(packet.local)));
      return 'claim';
    }
    if (!this.forward(d.host, packet)) return 'claim';
    if (this.kf && packet.transport === 'udp') {
      const client = {
        address: packet.address,
        port: packet.port,
        servicePort: this.servicePort(packet.local),
      };
      const actions = this.kf.table.forwarded(
        client,
        d.host.id,
        keys.conferenceId ?? keys.callId,
        this.clock.now(),
      );
      if (actions.length) this.kf.map.apply(actions);
    }
    return 'forwarded';
  }

  private servicePort(local: number): number {
    let p = this.servicePorts[local];
    if (!p) {
      p = this.servicePortOf?.(local) ?? 0;
      if (p) this.servicePorts[local] = p;
    }
    return p;
  }

  /** The kernel forward's table and map adapter, while active (tests, diagnostics). */
  get kernelForward(): { table: KernelForwardTable; map: KernelForwardMap } | undefined {
    return this.kf;
  }

  /** Starts, restarts or ends the kernel forward after a router snapshot. */
  private setKernelForward(m: Extract<RouterToDispatcher, { kind: 'snapshot' }>): void {
    const wire = m.mode === 'vxlan' ? m.kernelForward : undefined;
    if (this.kf) {
      // a new snapshot starts afresh: our entries in the old table go (the router may have re-attached: new maps)
      this.kf.map.apply(this.kf.table.reset());
      this.clock.clearInterval(this.kf.sweep);
      this.kf = undefined;
    }
    if (!wire || !this.servicePortOf) return;
    const table = new KernelForwardTable(this.kfInit);
    const map = new KernelForwardMap(wire, {
      logger: this.logger,
      host: (id) => this.plane.host(id),
      failed: (key) => table.failed(key),
    });
    // reading the maps spawns bpftool (a few ms of this process's CPU): only while there are entries, and once more
    // after the last one went (so the hit counter's final value is read)
    let readAgain = false;
    // on the injected clock (the dispatcher's), like every other timer of the primary
    const sweep = this.clock.setInterval(() => {
      if (table.size === 0 && !readAgain) return;
      readAgain = table.size > 0;
      void map
        .read((key) => table.hit(key, this.clock.now()))
        .then(() => {
          if (this.kf?.table === table) map.apply(table.sweep(this.clock.now()));
        });
    }, this.kfInit.idleSweepMs);
    this.kf = { table, map, sweep };
    this.logger.info({ kernelForward: wire }, 'kernel forward active');
  }

  /** Router deltas that end kernel entries: hosts that died or left, sessions that moved. */
  private kernelForwardDelta(m: Extract<RouterToDispatcher, { kind: 'delta' }>): void {
    const kf = this.kf;
    if (!kf) return;
    const actions: KernelForwardAction[] = [];
    for (const h of m.hosts ?? []) if (!h.alive) actions.push(...kf.table.hostGone(h.id));
    for (const id of m.hostsRemoved ?? []) actions.push(...kf.table.hostGone(id));
    for (const [session, owner] of m.owners ?? []) actions.push(...kf.table.ownerChanged(session, owner));
    if (actions.length) kf.map.apply(actions);
  }

  /** Encapsulates and sends one datagram to `host`; false when it cannot be (IPv6 client in vxlan mode, no key). */
  private forward(host: PopHost, packet: IngressPacket): boolean {
    const s = this.sender(host);
    const payload = packet.payload;
    if (this.plane.encapsulation === 'vxlan') {
      if (packet.address !== this.lastAddress) {
        this.lastAddress = packet.address;
        this.lastAddressValue = parseIpv4(packet.address);
      }
      const src = this.lastAddressValue;
      if (src < 0 || writeVxlanHeader(s.header, host.template, src, packet.port, payload.length) < 0)
        return this.plane.encapsulated(false);
      // the payload is the datagram Node received (a fresh buffer; injected ones, whose buffer is reused, never
      // get here), so the send may keep it
      if (!s.connected) {
        // not connected yet (a connecting socket drops a send with an address): the unconnected socket resolves the
        // address and sends on a later tick, so this header is the send's own
        const header = Buffer.from(host.template);
        writeVxlanHeader(header, host.template, src, packet.port, payload.length);
        this.unconnected().send([header, payload], host.port, host.address);
        return this.plane.encapsulated(true);
      }
      s.socket.send([s.header, payload]);
      if (s.socket.getSendQueueCount() > 0) s.header = Buffer.from(host.template);
      return this.plane.encapsulated(true);
    }
    // udp mode: header, payload and MAC in one buffer (the HMAC covers them all), one per datagram
    const out = Buffer.allocUnsafe(payload.length + TUNNEL_MAX_OVERHEAD);
    const n = this.plane.encapsulate(out, host, packet.local, packet.address, packet.port, payload);
    if (n < 0) return false;
    if (s.connected) s.socket.send(out.subarray(0, n));
    else this.unconnected().send(out.subarray(0, n), host.port, host.address);
    return true;
  }

  /** The host's connected socket, made on its first forward (and again when its endpoint or template changed). */
  private sender(host: PopHost): Sender {
    const s = this.senders.get(host.id);
    if (s?.host === host) return s;
    if (
      s &&
      s.host.port === host.port &&
      s.host.address === host.address &&
      s.host.template.equals(host.template)
    ) {
      s.host = host;
      return s;
    }
    if (s) s.socket.close();
    const socket = this.createSocket();
    const made: Sender = { host, socket, connected: false, header: Buffer.from(host.template) };
    socket.on('error', (err) => this.badInput.warn({ err, host: host.id }, 'tunnel send socket error'));
    socket.connect(host.port, host.address, () => {
      made.connected = true;
    });
    this.senders.set(host.id, made);
    return made;
  }

  /** The socket for datagrams to a host whose connected socket is not ready yet (made on first use). */
  private unconnected(): dgram.Socket {
    if (!this.fallback) {
      this.fallback = this.createSocket();
      this.fallback.on('error', (err) => this.badInput.warn({ err }, 'tunnel send socket error'));
    }
    return this.fallback;
  }

  /** Closes the tunnel sockets (the dispatcher stops). */
  close(): void {
    if (this.kf) {
      this.kf.map.apply(this.kf.table.reset());
      this.clock.clearInterval(this.kf.sweep);
      this.kf = undefined;
    }
    for (const s of this.senders.values()) s.socket.close();
    this.senders.clear();
    this.fallback?.close();
    this.fallback = undefined;
  }

  /** A frame from the router that is not an injected datagram. */
  onRouterFrame(frame: Buffer): void {
    const m = decodeRouterMessage(frame);
    if (!m) {
      this.plane.counters.badTable++;
      this.badInput.warn({ bytes: frame.length }, 'malformed table frame from the pop-router');
      return;
    }
    this.plane.apply(m);
    if (m.kind === 'snapshot') {
      this.onOwnerToken?.(this.plane.selfToken);
      this.setKernelForward(m);
    } else this.kernelForwardDelta(m);
  }

  /** A router (re)connected: tell it what we hold so it re-claims it. */
  routerConnected(): void {
    for (const m of heldChunks(this.plane.held())) this.send(encodeLinkFrame(LINK_FRAME_SESSION, m));
  }

  dialogOpened(session: string, callId: string): void {
    this.plane.dialogOpened(session, callId);
  }

  dialogClosed(session: string, callId: string): void {
    this.plane.dialogClosed(session, callId);
    this.flush();
  }

  private flush(): void {
    // indexed: the hot path calls this for every datagram, nearly always with nothing queued
    const out = this.plane.takeOutbox();
    for (let i = 0; i < out.length; i++) this.send(encodeLinkFrame(LINK_FRAME_SESSION, out[i]!));
  }
}
