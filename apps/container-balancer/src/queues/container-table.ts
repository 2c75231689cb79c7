/**
 * The balancer's pure core: the registered containers, one least-loaded queue per service, selection, sticky
 * allocation keys and an optional log of picks. It is fed events (registered, reported, attached, dropped,
 * request begun/ended, drain) and answers decisions; it owns no socket and no timer, so tests drive it directly.
 *
 * Order: score = (requests in flight at the balancer + load the container reports) / capacity, lowest first; on
 * a tie the newest container is ahead (the queue's insertion order), so a new container enters at the head.
 * Every update is O(log n) (the indexed heap of @switchyard/affinity).
 */
import { LeastLoadedQueue } from '@switchyard/affinity';
import type { Clock } from '@switchyard/core';
import type { BalancerErrorCode } from '../errors.js';

export type ContainerMode = 'direct' | 'reverse';
export type ContainerState = 'serving' | 'draining';

export interface Registration {
  id: string;
  service: string;
  mode: ContainerMode;
  /** host:port of a direct-mode container; null in reverse mode. */
  address: string | null;
  capacity: number;
  load: number;
  /** What the container itself says (a container may drain itself). */
  state: ContainerState;
  /**
   * Idempotent requests it accepts pipelined on one connection (its `meta.pipelining`); null: not declared, the
   * balancer's `--upstream-pipelining` applies (also when absent). Direct mode only (HTTP/2 multiplexes anyway).
   */
  pipelining?: number | null;
}

export interface ContainerView {
  readonly id: string;
  readonly service: string;
  readonly mode: ContainerMode;
  readonly address: string | null;
  readonly capacity: number;
  readonly reportedLoad: number;
  readonly inFlight: number;
  readonly score: number;
  readonly state: ContainerState;
  /** Reverse mode: its HTTP/2 connection is attached (direct containers are always ready). */
  readonly ready: boolean;
  readonly registeredAt: number;
  readonly pipelining: number | null;
}

interface Container {
  id: string;
  service: string;
  mode: ContainerMode;
  address: string | null;
  capacity: number;
  reportedLoad: number;
  inFlight: number;
  reportedState: ContainerState;
  operatorDrain: boolean;
  ready: boolean;
  registeredAt: number;
  pipelining: number | null;
  /** Sticky allocation keys bound here, so they go when the container goes. */
  keys: Set<string>;
}

/** One pick, with every eligible candidate's score at that moment (the balancer's own record). */
export interface PickRecord {
  seq: number;
  service: string;
  key: string | undefined;
  chosen: string;
  chosenScore: number;
  candidates: Array<{ id: string; score: number }>;
}

export type RegisterResult =
  { ok: true; view: ContainerView } | { ok: false; code: BalancerErrorCode; message: string };

export interface ContainerTableInit {
  maxContainers: number;
  maxStickyKeys: number;
  pickLogSize: number;
}

const score = (c: Container) => (c.inFlight + c.reportedLoad) / c.capacity;
const eligible = (c: Container) => c.ready && !c.operatorDrain && c.reportedState === 'serving';

function view(c: Container): ContainerView {
  return {
    id: c.id,
    service: c.service,
    mode: c.mode,
    address: c.address,
    capacity: c.capacity,
    reportedLoad: c.reportedLoad,
    inFlight: c.inFlight,
    score: score(c),
    state: c.operatorDrain || c.reportedState === 'draining' ? 'draining' : 'serving',
    ready: c.ready,
    registeredAt: c.registeredAt,
    pipelining: c.pipelining,
  };
}

export class ContainerTable {
  private readonly byId = new Map<string, Container>();
  private readonly queues = new Map<string, LeastLoadedQueue<Container>>();
  /** `service\0key` → container id, insertion-ordered so the oldest is forgotten first. */
  private readonly sticky = new Map<string, string>();
  private readonly picks: PickRecord[] = [];
  private pickSeq = 0;

  constructor(
    private readonly components: { clock: Clock },
    private readonly init: ContainerTableInit,
  ) {}

  get size(): number {
    return this.byId.size;
  }

  get(id: string): ContainerView | undefined {
    const c = this.byId.get(id);
    return c && view(c);
  }

  /** Adds a container at the head of its service's queue among equals. Refuses a live id or a full table. */
  register(r: Registration): RegisterResult {
    if (this.byId.has(r.id))
      return { ok: false, code: 'BAL_ERR_DUPLICATE_ID', message: `container ${r.id} is already registered` };
    if (this.byId.size >= this.init.maxContainers)
      return {
        ok: false,
        code: 'BAL_ERR_REGISTRATION_LIMIT',
        message: `the balancer holds its maximum of ${this.init.maxContainers} containers`,
      };
    if (!(r.capacity > 0) || !Number.isFinite(r.capacity))
      return { ok: false, code: 'BAL_ERR_BAD_REGISTRATION', message: 'capacity must be a finite number > 0' };
    const c: Container = {
      id: r.id,
      service: r.service,
      mode: r.mode,
      address: r.address,
      capacity: r.capacity,
      reportedLoad: r.load,
      inFlight: 0,
      reportedState: r.state,
      operatorDrain: false,
      ready: r.mode === 'direct',
      registeredAt: this.components.clock.now(),
      pipelining: r.pipelining ?? null,
      keys: new Set(),
    };
    this.byId.set(r.id, c);
    let q = this.queues.get(r.service);
    if (!q) this.queues.set(r.service, (q = new LeastLoadedQueue()));
    q.add(c.id, c, score(c));
    return { ok: true, view: view(c) };
  }

  /** A reverse-mode container's HTTP/2 connection is attached: it may now be picked. */
  attach(id: string): boolean {
    const c = this.byId.get(id);
    if (!c || c.mode !== 'reverse' || c.ready) return false;
    c.ready = true;
    return true;
  }

  /** The container reported load, capacity or state (a delta, or a heartbeat that differs). */
  report(id: string, r: { load: number; capacity: number; state: ContainerState }): boolean {
    const c = this.byId.get(id);
    if (!c || !(r.capacity > 0) || !Number.isFinite(r.capacity)) return false;
    c.reportedLoad = r.load;
    c.capacity = r.capacity;
    c.reportedState = r.state;
    this.rescore(c);
    return true;
  }

  /** Removes a container (connection closed, heartbeat missed, evicted); its sticky keys are forgotten. */
  drop(id: string): ContainerView | undefined {
    const c = this.byId.get(id);
    if (!c) return undefined;
    this.byId.delete(id);
    const q = this.queues.get(c.service)!;
    q.remove(id);
    if (q.size === 0) this.queues.delete(c.service);
    for (const k of c.keys) this.sticky.delete(k);
    return view(c);
  }

  /** Operator drain: no new requests (sticky ones included); those in flight finish. */
  setDrain(id: string, drain: boolean): ContainerView | undefined {
    const c = this.byId.get(id);
    if (!c) return undefined;
    c.operatorDrain = drain;
    return view(c);
  }

  /**
   * The head of `service`'s queue among containers that are ready and serving and not in `exclude` (those
   * already tried by this request). Undefined when there is none.
   */
  pick(service: string, exclude?: ReadonlySet<string>, key?: string): ContainerView | undefined {
    const q = this.queues.get(service);
    if (!q) return undefined;
    const e = q.peekMatching((x) => eligible(x.value) && !(exclude && exclude.has(x.id)));
    if (!e) return undefined;
    if (this.init.pickLogSize > 0) this.logPick(q, e.value, key, exclude);
    return view(e.value);
  }

  /** The container a key is bound to, if it is still registered and takes requests. */
  stickyFor(service: string, key: string): ContainerView | undefined {
    const id = this.sticky.get(`${service}\0${key}`);
    const c = id === undefined ? undefined : this.byId.get(id);
    return c && eligible(c) ? view(c) : undefined;
  }

  /** Binds `key` to container `id` until the container leaves (or the key is the oldest of too many). */
  bind(service: string, key: string, id: string): void {
    const c = this.byId.get(id);
    if (!c) return;
    const k = `${service}\0${key}`;
    const old = this.sticky.get(k);
    if (old !== undefined) this.byId.get(old)?.keys.delete(k);
    this.sticky.delete(k);
    this.sticky.set(k, id);
    c.keys.add(k);
    if (this.sticky.size > this.init.maxStickyKeys) {
      const [oldestKey, oldestId] = this.sticky.entries().next().value as [string, string];
      this.sticky.delete(oldestKey);
      this.byId.get(oldestId)?.keys.delete(oldestKey);
    }
  }

  /** A request to `id` has begun: counts in its score at once. */
  begin(id: string): void {
    const c = this.byId.get(id);
    if (!c) return;
    c.inFlight++;
    this.rescore(c);
  }

  /** A request to `id` has ended (any outcome). */
  end(id: string): void {
    const c = this.byId.get(id);
    if (!c || c.inFlight === 0) return;
    c.inFlight--;
    this.rescore(c);
  }

  /** Services and their containers in queue order (head first). */
  services(): Array<{ service: string; containers: ContainerView[] }> {
    return [...this.queues.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([service, q]) => ({ service, containers: q.sorted().map((e) => view(e.value)) }));
  }

  /** Number of containers per service (for metrics). */
  counts(): Map<string, number> {
    return new Map([...this.queues.entries()].map(([s, q]) => [s, q.size]));
  }

  /** The recorded picks with seq > `after`, oldest first. */
  pickLog(after = 0): PickRecord[] {
    return this.picks.filter((p) => p.seq > after);
  }

  private rescore(c: Container): void {
    this.queues.get(c.service)?.update(c.id, score(c));
  }

  private logPick(
    q: LeastLoadedQueue<Container>,
    chosen: Container,
    key: string | undefined,
    exclude: ReadonlySet<string> | undefined,
  ): void {
    const candidates = q
      .sorted()
      .filter((e) => eligible(e.value) && !(exclude && exclude.has(e.id)))
      .map((e) => ({ id: e.id, score: score(e.value) }));
    this.picks.push({
      seq: ++this.pickSeq,
      service: chosen.service,
      key,
      chosen: chosen.id,
      chosenScore: score(chosen),
      candidates,
    });
    if (this.picks.length > this.init.pickLogSize) this.picks.shift();
  }
}
