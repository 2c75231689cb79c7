/**
 * The in-memory simulated network: per-link delay and jitter (so reordering), loss, duplication and partitions,
 * driven by an injected clock and a seeded random generator, so a run is reproducible. Deliveries wait in a binary
 * heap keyed by due time; one clock timer is armed for the earliest, so hundreds of members stay cheap.
 */
import type { Clock, TimerHandle } from '@switchyard/core';
import { GossipError } from '../errors.js';
import type { DatagramHandler, Transport } from './transport.js';

export interface LinkConditions {
  /** Base one-way delay. */
  delayMs: number;
  /** Extra delay, uniform in [0, jitterMs): datagrams overtake each other. */
  jitterMs: number;
  /** Probability a datagram is lost. */
  loss: number;
  /** Probability a datagram is delivered twice. */
  duplicate: number;
}

export const DEFAULT_LINK: LinkConditions = { delayMs: 1, jitterMs: 2, loss: 0, duplicate: 0 };

export interface MemoryNetworkInit {
  /** Conditions of every link without its own. */
  link?: Partial<LinkConditions>;
  /** Whether transports offer multicast (one send reaches every attached transport). */
  multicast?: boolean;
}

export interface NetworkStats {
  datagrams: number;
  bytes: number;
  delivered: number;
  lost: number;
  duplicated: number;
  partitioned: number;
}

interface Delivery {
  at: number;
  seq: number;
  to: string;
  from: string;
  bytes: Uint8Array;
}

export class MemoryNetwork {
  readonly stats: NetworkStats = {
    datagrams: 0,
    bytes: 0,
    delivered: 0,
    lost: 0,
    duplicated: 0,
    partitioned: 0,
  };
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly handlers = new Map<string, DatagramHandler>();
  private readonly links = new Map<string, LinkConditions>();
  private readonly group = new Map<string, number>();
  private readonly heap: Delivery[] = [];
  private defaults: LinkConditions;
  private seq = 0;
  private timer: TimerHandle | undefined;
  private timerAt = Infinity;
  readonly multicast: boolean;

  constructor(components: { clock: Clock; random: () => number }, init: MemoryNetworkInit = {}) {
    this.clock = components.clock;
    this.random = components.random;
    this.defaults = { ...DEFAULT_LINK, ...init.link };
    this.multicast = init.multicast ?? false;
  }

  /** A transport attached at `address` (any unique string; `host:port` by convention). */
  createTransport(address: string): MemoryTransport {
    return new MemoryTransport(this, address);
  }

  setDefaultLink(link: Partial<LinkConditions>): void {
    this.defaults = { ...this.defaults, ...link };
  }

  /** Conditions of the one-way link `from` → `to`. */
  setLink(from: string, to: string, link: Partial<LinkConditions>): void {
    this.links.set(`${from}>${to}`, { ...this.defaults, ...link });
  }

  /** Cuts the network into groups: datagrams between different groups are dropped. Addresses in no group are cut off. */
  partition(groups: readonly (readonly string[])[]): void {
    this.group.clear();
    groups.forEach((g, i) => g.forEach((a) => this.group.set(a, i)));
  }

  heal(): void {
    this.group.clear();
  }

  /** @internal */
  attach(address: string, handler: DatagramHandler): void {
    if (this.handlers.has(address))
      throw new GossipError('GSP_ERR_TRANSPORT', `address ${address} is already attached`);
    this.handlers.set(address, handler);
  }

  /** @internal */
  detach(address: string): void {
    this.handlers.delete(address);
  }

  /** Sees every datagram sent (before loss), multicast ones once with `to` = `*`: for traffic accounting. */
  tap: ((from: string, to: string, bytes: Uint8Array) => void) | undefined;

  /** @internal */
  send(from: string, to: string, bytes: Uint8Array): void {
    this.tap?.(from, to, bytes);
    this.transmit(from, to, bytes);
  }

  private transmit(from: string, to: string, bytes: Uint8Array): void {
    this.stats.datagrams++;
    this.stats.bytes += bytes.length;
    if (this.group.size && this.group.get(from) !== this.group.get(to)) {
      this.stats.partitioned++;
      return;
    }
    const link = this.links.get(`${from}>${to}`) ?? this.defaults;
    if (link.loss > 0 && this.random() < link.loss) {
      this.stats.lost++;
      return;
    }
    this.schedule(from, to, bytes, link);
    if (link.duplicate > 0 && this.random() < link.duplicate) {
      this.stats.duplicated++;
      this.schedule(from, to, bytes, link);
    }
  }

  /** @internal multicast: one datagram on the wire, a copy to every other attached address. */
  broadcast(from: string, bytes: Uint8Array): void {
    this.tap?.(from, '*', bytes);
    for (const to of this.handlers.keys()) {
      if (to === from) continue;
      this.transmit(from, to, bytes);
      // one datagram on the wire, whatever the number of receivers
      this.stats.datagrams--;
      this.stats.bytes -= bytes.length;
    }
    this.stats.datagrams++;
    this.stats.bytes += bytes.length;
  }

  /** Datagrams waiting for delivery. */
  get inFlight(): number {
    return this.heap.length;
  }

  private schedule(from: string, to: string, bytes: Uint8Array, link: LinkConditions): void {
    // whole milliseconds: deliveries due together share one clock timer firing (hundreds of members stay cheap)
    const at = Math.ceil(
      this.clock.now() + link.delayMs + (link.jitterMs > 0 ? this.random() * link.jitterMs : 0),
    );
    this.push({ at, seq: this.seq++, to, from, bytes });
    if (at < this.timerAt) this.arm(at);
  }

  private arm(at: number): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = this.clock.setTimeout(() => this.deliverDue(), Math.max(0, at - this.clock.now()));
  }

  private deliverDue(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.clock.now();
    while (this.heap.length && this.heap[0]!.at <= now) {
      const d = this.pop();
      const h = this.handlers.get(d.to);
      if (!h) continue;
      this.stats.delivered++;
      h(d.bytes, d.from);
    }
    if (this.heap.length) this.arm(this.heap[0]!.at);
  }

  private less(a: Delivery, b: Delivery): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  /** Sift-up without swaps or temporary arrays (one per datagram: a hot path). */
  private push(d: Delivery): void {
    const h = this.heap;
    let i = h.length;
    h.push(d);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p] as Delivery;
      if (!this.less(d, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = d;
  }

  private pop(): Delivery {
    const h = this.heap;
    const top = h[0] as Delivery;
    const last = h.pop() as Delivery;
    const n = h.length;
    if (!n) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const left = h[l] as Delivery;
      let c = l;
      let child = left;
      if (r < n) {
        const right = h[r] as Delivery;
        if (this.less(right, left)) {
          c = r;
          child = right;
        }
      }
      if (!this.less(child, last)) break;
      h[i] = child;
      i = c;
    }
    h[i] = last;
    return top;
  }
}

export class MemoryTransport implements Transport {
  private started = false;

  constructor(
    private readonly network: MemoryNetwork,
    readonly localAddress: string,
  ) {}

  get multicast(): boolean {
    return this.network.multicast;
  }

  async start(onDatagram: DatagramHandler): Promise<void> {
    this.network.attach(this.localAddress, onDatagram);
    this.started = true;
  }

  send(to: string, bytes: Uint8Array): void {
    if (this.started) this.network.send(this.localAddress, to, bytes);
  }

  broadcast(bytes: Uint8Array): void {
    if (!this.network.multicast) {
      throw new GossipError(
        'GSP_ERR_TRANSPORT',
        'this simulated network has no multicast broadcast; the node fans out',
      );
    }
    if (this.started) this.network.broadcast(this.localAddress, bytes);
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.network.detach(this.localAddress);
  }
}
