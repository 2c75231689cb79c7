/**
 * A whole cluster on the in-memory network, driven by one {@link ManualClock} and one seed: the harness of the
 * simulation tests and of the convergence benchmark.
 */
import { ManualClock } from '@switchyard/core';
import type { GossipConfig } from '../config.js';
import { GossipNode } from '../node/gossip-node.js';
import { MemoryNetwork, type LinkConditions } from '../transport/memory-transport.js';
import { seededRandom } from './rng.js';

export interface SimulatedClusterInit {
  size: number;
  seed: number;
  link?: Partial<LinkConditions>;
  multicast?: boolean;
  config?: Partial<GossipConfig>;
  /** How many members act as seeds for the others (the first ones). Default 1. */
  seeds?: number;
}

/** The keyring used by simulations (not a secret: simulated datagrams never leave the process). */
export const SIMULATION_KEYRING = {
  keys: [{ id: 1, secret: 'simulation-key-not-secret-0123456789' }],
  primary: 1,
};

export class SimulatedCluster {
  readonly clock = new ManualClock();
  readonly network: MemoryNetwork;
  readonly nodes: GossipNode[] = [];
  readonly random: () => number;

  private constructor(private readonly init: SimulatedClusterInit) {
    this.random = seededRandom(init.seed);
    this.network = new MemoryNetwork(
      { clock: this.clock, random: this.random },
      { link: init.link, multicast: init.multicast },
    );
  }

  static address(i: number): string {
    return `sim-${i}:7946`;
  }

  static id(i: number): string {
    return `n${String(i).padStart(4, '0')}`;
  }

  /** Creates and starts `size` members; all but the seeds join through the seeds. Time does not move. */
  static async create(init: SimulatedClusterInit): Promise<SimulatedCluster> {
    const c = new SimulatedCluster(init);
    for (let i = 0; i < init.size; i++) await c.addNode(i);
    return c;
  }

  /** Creates and starts member `i` (also used to restart one). */
  async addNode(i: number): Promise<GossipNode> {
    const seedCount = this.init.seeds ?? 1;
    const seeds = [];
    for (let s = 0; s < Math.min(seedCount, this.init.size); s++)
      if (s !== i) seeds.push(SimulatedCluster.address(s));
    const node = new GossipNode(
      {
        transport: this.network.createTransport(SimulatedCluster.address(i)),
        clock: this.clock,
        random: this.random,
      },
      { id: SimulatedCluster.id(i), keyring: SIMULATION_KEYRING, seeds, config: this.init.config },
    );
    await node.start();
    this.nodes[i] = node;
    return node;
  }

  /** Members still running. */
  running(): GossipNode[] {
    return this.nodes.filter((n) => !this.stopped.has(n));
  }

  private readonly stopped = new Set<GossipNode>();

  /** Stops member `i` without a goodbye (as a crash would). */
  async kill(i: number): Promise<void> {
    const n = this.nodes[i]!;
    this.stopped.add(n);
    await n.stop();
  }

  advance(ms: number): void {
    this.clock.advance(ms);
  }

  /**
   * Advances in steps of `stepMs` until `done()` holds; returns the simulated ms it took, or `undefined` when
   * `maxMs` passed first.
   */
  runUntil(done: () => boolean, maxMs: number, stepMs = 10): number | undefined {
    const start = this.clock.now();
    while (!done()) {
      if (this.clock.now() - start >= maxMs) return undefined;
      this.clock.advance(stepMs);
    }
    return this.clock.now() - start;
  }

  /** True when every running member sees every running member alive, and the killed ones as dead or left. */
  membershipConverged(): boolean {
    const live = this.running();
    for (const n of live) {
      for (const m of this.nodes) {
        const st = n.memberStatus(m.id);
        if (this.stopped.has(m) ? st !== 'dead' && st !== 'left' : st !== 'alive') return false;
      }
    }
    return true;
  }

  /** True when every running member has the same ownership digest. */
  ownershipConverged(): boolean {
    const live = this.running();
    const d = live[0]?.ownershipDigest();
    return live.every((n) => n.ownershipDigest() === d);
  }
}
