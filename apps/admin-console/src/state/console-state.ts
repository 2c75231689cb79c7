/**
 * The console's pure core: fed registry feed events and poll results (with `now`), it keeps one model of the
 * deployment and builds the snapshot sections that changed since the last take(). No I/O, no timers.
 */
import type { FeedEvent, ServiceRecord } from '@switchyard/registry';
import type {
  AuditEntry,
  ConferenceRow,
  Endpoint,
  KeyedSection,
  LinkTraffic,
  LoadSeries,
  Patch,
  MoveRow,
  PopHostRow,
  ProcessTraffic,
  Rates,
  SchedulerRow,
  Section,
  ServerRow,
  ServiceQueue,
  SessionPage,
  SessionRow,
  SessionsSummary,
  Snapshot,
  TierName,
  WorkerRow,
} from '../shared/model.js';
import { KEYED_SECTIONS, SECTIONS, SESSION_HEAD } from '../shared/model.js';
import { applyDelta, type Delta } from '../shared/delta.js';
import { countsOf, ratesBetween, type CountedTier, type Counts } from '../traffic/counters.js';
import type { BalancerData, DispatcherData, PopRouterData, SchedulerData } from './tier-data.js';

export type FeedKind = 'servers' | 'assignments' | 'schedulers';

export interface StateLimits {
  /** Load samples kept per server. */
  samples: number;
  /** Audit entries kept. */
  auditSize: number;
  /** Placements kept per conference in its history. */
  historyPerConference: number;
  /** Rows (changed + removed) of one keyed section in one event at most; the rest follow in the next events. */
  deltaRows: number;
}

export const StateDefaults: Readonly<StateLimits> = Object.freeze({
  samples: 300, // five minutes at one sample a second
  auditSize: 1000, // the page shows the latest; every entry is also logged
  historyPerConference: 20, // a conference that moved twenty times has a bigger problem than its history
  deltaRows: 500, // about 75 kB of host rows: one event stays small even when every row changes at once
});

/** A keyed section as the pages have it: its rows as last sent (sorted by id), each row's JSON, its version. */
interface SentSection {
  rows: { id: string }[];
  sigs: Map<string, string>;
  version: number;
}

interface EndpointState {
  endpoint: Endpoint;
  data: unknown;
  /** The last answer, serialised (a poll that answers the same changes nothing). */
  sig?: string;
  /** pop-router only: its owned sessions serialised, and sorted by id (sorted once per change of this router). */
  sessionsSig?: string;
  sortedSessions?: SessionRow[];
  /** The last `/metrics` read (its counters) and the rates since the read before. */
  counts?: { at: number; counts: Counts };
  perS?: Counts;
}

/** Every owned session sorted by id, and per owner: built on the first page read after a change, then reused. */
interface SessionIndex {
  all: SessionRow[];
  byOwner: Map<string, SessionRow[]>;
}

export class ConsoleState {
  private readonly limits: StateLimits;
  private readonly records: Record<FeedKind, Map<string, ServiceRecord>> = {
    servers: new Map(),
    assignments: new Map(),
    schedulers: new Map(),
  };
  private readonly endpoints = new Map<string, EndpointState>();
  private readonly history = new Map<string, MoveRow[]>();
  private readonly audit: AuditEntry[] = [];
  private auditSeq = 0;
  private readonly series: LoadSeries = { t: [], servers: [] };
  private placementsInWindow = 0;
  private movesInWindow = 0;
  private rates: Pick<Rates, 'placementsPerS' | 'movesPerS'> = { placementsPerS: 0, movesPerS: 0 };
  private lastSampleAt: number | undefined;
  private sessionsVersion = 0;
  private sessionIndex: SessionIndex | undefined;
  private readonly dirty = new Set<Section>();
  private readonly built = new Map<Section, unknown>();
  private readonly sent: Record<KeyedSection, SentSection> = {
    conferences: { rows: [], sigs: new Map(), version: 0 },
    hosts: { rows: [], sigs: new Map(), version: 0 },
  };
  private seq = 0;

  constructor(
    endpoints: { tier: TierName; url: string }[],
    init: Partial<StateLimits> = {},
    private readonly registryUrl: string | null = null,
  ) {
    this.limits = { ...StateDefaults, ...init };
    for (const e of endpoints)
      this.endpoints.set(key(e.tier, e.url), { endpoint: { ...e, up: false }, data: null });
    if (registryUrl)
      this.endpoints.set(key('registry', registryUrl), {
        endpoint: { tier: 'registry', url: registryUrl, up: false },
        data: null,
      });
    for (const s of SECTIONS) this.dirty.add(s);
  }

  /** A registry feed event of one of the watched services. */
  feed(kind: FeedKind, e: FeedEvent, now: number): void {
    const map = this.records[kind];
    if (e.type === 'reset') return;
    if (e.type === 'snapshot') {
      map.clear();
      for (const r of e.records) {
        map.set(r.id, r);
        if (kind === 'assignments') this.notePlacement(r, now, false);
      }
    } else if (e.type === 'added' || e.type === 'updated') {
      if (kind === 'assignments') this.notePlacement(e.record, now, true);
      map.set(e.record.id, e.record);
    } else {
      map.delete(e.record.id);
      if (kind === 'assignments') this.history.delete(e.record.id);
    }
    this.markFeed(kind);
  }

  /** The registry connection is up or down (shown as the registry endpoint's health). */
  registryStatus(up: boolean, now: number, error?: string): void {
    if (!this.registryUrl) return;
    this.setEndpoint(
      'registry',
      this.registryUrl,
      up ? { up, lastOkAt: now } : { up, error: error ?? 'down' },
    );
  }

  pollOk(tier: 'scheduler', url: string, data: SchedulerData, now: number, latencyMs: number): void;
  pollOk(tier: 'dispatcher', url: string, data: DispatcherData, now: number, latencyMs: number): void;
  pollOk(tier: 'pop-router', url: string, data: PopRouterData, now: number, latencyMs: number): void;
  pollOk(tier: 'balancer', url: string, data: BalancerData, now: number, latencyMs: number): void;
  pollOk(tier: TierName, url: string, data: unknown, now: number, latencyMs: number): void {
    const s = this.endpoints.get(key(tier, url));
    if (!s) return;
    this.setEndpoint(tier, url, { up: true, lastOkAt: now, latencyMs });
    // most polls answer what the last one did: then nothing is rebuilt or pushed (50,000 sessions are 3 MB)
    const sig = JSON.stringify(data);
    if (s.data !== null && sig === s.sig) return;
    s.sig = sig;
    s.data = data;
    this.dirty.add(SECTION_OF[tier]);
    if (tier === 'scheduler') {
      this.dirty.add('servers');
      this.dirty.add('conferences');
    }
    if (tier === 'pop-router') {
      const sessions = (data as PopRouterData).sessions;
      const sessionsSig = JSON.stringify(sessions);
      if (sessionsSig !== s.sessionsSig) {
        s.sessionsSig = sessionsSig;
        // the other routers' lists stay sorted: the merge below sorts runs that are already in order
        s.sortedSessions = [...sessions].sort(byIdOrder);
        this.sessionsChanged();
      }
    }
  }

  /**
   * A process's `/metrics` answer: its traffic counters are read and, from the second read on, its rates per
   * second since the read before (what the topology shows on the links).
   */
  metricsOk(tier: CountedTier, url: string, text: string, now: number): void {
    const s = this.endpoints.get(key(tier, url));
    if (!s) return;
    const read = { at: now, counts: countsOf(tier, text) };
    const before = s.counts;
    s.counts = read;
    if (!before) return;
    const perS = ratesBetween(before, read);
    if (JSON.stringify(perS) !== JSON.stringify(s.perS)) this.dirty.add('rates');
    s.perS = perS;
  }

  /** A poll failed: the endpoint shows down; its last data is dropped (the page must not show stale rows as live). */
  pollFailed(tier: TierName, url: string, error: string): void {
    const s = this.endpoints.get(key(tier, url));
    if (!s) return;
    const hadData = s.data !== null;
    s.data = null;
    if (s.perS) this.dirty.add('rates');
    delete s.counts;
    delete s.perS;
    this.setEndpoint(tier, url, { up: false, error });
    if (hadData) {
      this.dirty.add(SECTION_OF[tier]);
      if (tier === 'scheduler') {
        this.dirty.add('servers');
        this.dirty.add('conferences');
      }
      if (tier === 'pop-router') {
        delete s.sessionsSig;
        delete s.sortedSessions;
        this.sessionsChanged();
      }
    }
  }

  /**
   * One window of the owned sessions (of one owner, or all), sorted by id: what a table shows. The index is built
   * on the first read after a change (the routers' sorted lists concatenated: TimSort merges the runs).
   */
  sessionPage(owner: string | null, offset: number, limit: number): SessionPage {
    const idx = (this.sessionIndex ??= this.buildSessionIndex());
    const rows = owner === null ? idx.all : (idx.byOwner.get(owner) ?? []);
    return {
      version: this.sessionsVersion,
      total: rows.length,
      offset,
      owner,
      rows: rows.slice(offset, offset + limit),
    };
  }

  addAudit(e: Omit<AuditEntry, 'seq'>): AuditEntry {
    const entry = { ...e, seq: ++this.auditSeq };
    this.audit.push(entry);
    if (this.audit.length > this.limits.auditSize)
      this.audit.splice(0, this.audit.length - this.limits.auditSize);
    this.dirty.add('audit');
    return entry;
  }

  /** Takes one load sample of every conference server and updates the rates. */
  sample(now: number): void {
    const servers = this.serverRows();
    const s = this.series;
    s.t.push(now);
    const byId = new Map(s.servers.map((x) => [x.id, x]));
    for (const row of servers) {
      if (!byId.has(row.id)) {
        const line = { id: row.id, load: new Array<number | null>(s.t.length - 1).fill(null) };
        s.servers.push(line);
        byId.set(row.id, line);
      }
    }
    const present = new Map(servers.map((r) => [r.id, r.load]));
    for (const line of s.servers) line.load.push(present.get(line.id) ?? null);
    if (s.t.length > this.limits.samples) {
      const drop = s.t.length - this.limits.samples;
      s.t.splice(0, drop);
      for (const line of s.servers) line.load.splice(0, drop);
    }
    // a server absent for the whole window leaves the plot
    s.servers = s.servers.filter((l) => l.load.some((v) => v !== null));
    const dt = this.lastSampleAt === undefined ? 0 : (now - this.lastSampleAt) / 1000;
    this.lastSampleAt = now;
    if (dt > 0) {
      this.rates = {
        placementsPerS: round2(this.placementsInWindow / dt),
        movesPerS: round2(this.movesInWindow / dt),
      };
      this.dirty.add('rates');
    }
    this.placementsInWindow = 0;
    this.movesInWindow = 0;
    this.dirty.add('series');
  }

  /** True when a section changed since the last take(). */
  get changed(): boolean {
    return this.dirty.size > 0;
  }

  /**
   * What changed since the last call, as one event (every take() must reach every page: the app broadcasts
   * it): the short sections rebuilt whole, the keyed ones (conferences, hosts) as deltas of at most `deltaRows`
   * rows each; a keyed section with more changes stays marked and sends the rest on the next take().
   */
  take(now: number): Patch {
    const sections: Partial<Record<Section, unknown>> = {};
    const deltas: Partial<Record<KeyedSection, Delta<{ id: string }>>> = {};
    const again: KeyedSection[] = [];
    for (const s of this.dirty) {
      if (isKeyed(s)) {
        const d = this.delta(s);
        if (d.delta) deltas[s] = d.delta;
        if (d.more) again.push(s);
        continue;
      }
      const v = this.build(s);
      this.built.set(s, v);
      sections[s] = v;
    }
    this.dirty.clear();
    for (const s of again) this.dirty.add(s);
    const out: Patch = { seq: ++this.seq, at: now, sections: sections as Patch['sections'] };
    if (Object.keys(deltas).length > 0) out.deltas = deltas as Patch['deltas'];
    return out;
  }

  /**
   * The whole state as the pages have it after the last take() (what a page that connects receives; the next
   * event brings it whatever changed since). Before the first take() nothing was sent, so it takes one.
   */
  snapshot(now: number): Snapshot {
    if (this.seq === 0) this.take(now);
    const out: Record<string, unknown> = { seq: this.seq, at: now };
    for (const [s, v] of this.built) out[s] = v;
    for (const k of KEYED_SECTIONS) out[k] = this.sent[k].rows;
    out['versions'] = { conferences: this.sent.conferences.version, hosts: this.sent.hosts.version };
    return out as unknown as Snapshot;
  }

  /** Every endpoint's health now (not as last pushed). */
  endpointsNow(): Endpoint[] {
    return [...this.endpoints.values()].map((e) => ({ ...e.endpoint }));
  }

  /** One delta of a keyed section: its rows rebuilt and compared, row by row, with what the pages have. */
  private delta(s: KeyedSection): { delta?: Delta<{ id: string }>; more: boolean } {
    const rows = this.build(s) as { id: string }[];
    const sent = this.sent[s];
    const limit = this.limits.deltaRows;
    const ids = new Set<string>();
    for (const r of rows) ids.add(r.id);
    const removed: string[] = [];
    const changed: { id: string }[] = [];
    const sigs: string[] = [];
    let more = false;
    for (const id of sent.sigs.keys()) {
      if (ids.has(id)) continue;
      if (removed.length >= limit) {
        more = true;
        break;
      }
      removed.push(id);
    }
    for (const r of rows) {
      const sig = JSON.stringify(r);
      if (sent.sigs.get(r.id) === sig) continue;
      if (removed.length + changed.length >= limit) {
        more = true;
        break;
      }
      changed.push(r);
      sigs.push(sig);
    }
    if (removed.length === 0 && changed.length === 0) return { more };
    const delta = { from: sent.version, to: sent.version + 1, changed, removed };
    for (const id of removed) sent.sigs.delete(id);
    changed.forEach((r, i) => sent.sigs.set(r.id, sigs[i]!));
    sent.rows = applyDelta(sent.rows, delta);
    sent.version = delta.to;
    return { delta, more };
  }

  private build(s: Section): unknown {
    switch (s) {
      case 'endpoints':
        return [...this.endpoints.values()].map((e) => ({ ...e.endpoint }));
      case 'schedulers':
        return this.schedulerRows();
      case 'servers':
        return this.serverRows();
      case 'conferences':
        return this.conferenceRows();
      case 'hosts':
        return this.hostRows();
      case 'sessions':
        return this.sessionsSummary();
      case 'workers':
        return this.workerRows();
      case 'queues':
        return this.queueRows();
      case 'audit':
        return [...this.audit];
      case 'series':
        return {
          t: [...this.series.t],
          servers: this.series.servers.map((l) => ({ id: l.id, load: [...l.load] })),
        };
      case 'rates':
        return this.rateSection();
    }
  }

  private rateSection(): Rates {
    const traffic: ProcessTraffic[] = [];
    const links: LinkTraffic = {
      placementsPerS: 0,
      forwardsPerS: 0,
      datagramsPerS: 0,
      toWorkersPerS: 0,
      requestsPerS: {},
    };
    const sum = (x: number, y: number | undefined) => Math.round((x + (y ?? 0)) * 100) / 100;
    for (const { endpoint: e, perS } of this.endpoints.values()) {
      if (!perS) continue;
      traffic.push({ tier: e.tier, url: e.url, perS: { ...perS } });
      links.placementsPerS = sum(links.placementsPerS, perS['placements']);
      links.forwardsPerS = sum(links.forwardsPerS, perS['forwards']);
      links.datagramsPerS = sum(links.datagramsPerS, perS['datagrams']);
      links.toWorkersPerS = sum(links.toWorkersPerS, perS['toWorkers']);
      for (const [k, v] of Object.entries(perS))
        if (k.startsWith('requests:')) {
          const service = k.slice('requests:'.length);
          links.requestsPerS[service] = sum(links.requestsPerS[service] ?? 0, v);
        }
    }
    return { ...this.rates, traffic, links };
  }

  private markFeed(kind: FeedKind): void {
    this.dirty.add(kind === 'servers' ? 'servers' : kind === 'assignments' ? 'conferences' : 'schedulers');
  }

  private notePlacement(r: ServiceRecord, now: number, live: boolean): void {
    const epoch = Number(r.meta['epoch'] ?? NaN);
    const to = r.meta['serverId'] ?? r.address;
    const h = this.history.get(r.id) ?? [];
    const last = h[h.length - 1];
    if (last && last.epoch === epoch) return;
    h.push({ from: last ? last.to : null, to, epoch, at: now });
    if (h.length > this.limits.historyPerConference) h.shift();
    this.history.set(r.id, h);
    if (live) {
      if (last) this.movesInWindow++;
      else this.placementsInWindow++;
    }
  }

  private setEndpoint(tier: TierName, url: string, patch: Partial<Endpoint>): void {
    const s = this.endpoints.get(key(tier, url));
    if (!s) return;
    const next: Endpoint = { tier, url, up: patch.up ?? s.endpoint.up };
    const lastOkAt = patch.lastOkAt ?? s.endpoint.lastOkAt;
    if (lastOkAt !== undefined) next.lastOkAt = lastOkAt;
    if (patch.up && patch.latencyMs !== undefined) next.latencyMs = patch.latencyMs;
    if (!next.up) next.error = patch.error ?? s.endpoint.error ?? 'down';
    const before = s.endpoint;
    s.endpoint = next;
    // lastOkAt and latency move on every poll: only a change of health is worth a push
    if (before.up !== next.up || before.error !== next.error) this.dirty.add('endpoints');
  }

  private dataOf<T>(tier: TierName): { url: string; data: T }[] {
    const out: { url: string; data: T }[] = [];
    for (const s of this.endpoints.values())
      if (s.endpoint.tier === tier && s.data !== null) out.push({ url: s.endpoint.url, data: s.data as T });
    return out;
  }

  private firstScheduler(): SchedulerData | undefined {
    return this.dataOf<SchedulerData>('scheduler')[0]?.data;
  }

  private schedulerRows(): SchedulerRow[] {
    const polled = this.firstScheduler()?.schedulers ?? [];
    const byId = new Map<string, SchedulerRow>();
    for (const r of this.records.schedulers.values())
      byId.set(r.id, { id: r.id, address: r.address, region: r.region, live: true });
    for (const p of polled) {
      const row: SchedulerRow = { id: p.id, address: p.address, region: p.region, live: true };
      if (p.lastShare) row.lastShare = p.lastShare;
      byId.set(p.id, row);
    }
    return [...byId.values()].sort(byIdOrder);
  }

  private serverRows(): ServerRow[] {
    const polled = new Map((this.firstScheduler()?.servers ?? []).map((s) => [s.id, s]));
    const rows = new Map<string, ServerRow>();
    for (const r of this.records.servers.values()) {
      const p = polled.get(r.id);
      rows.set(r.id, {
        id: r.id,
        address: r.address,
        region: r.region,
        state: r.state,
        load: r.load,
        capacity: r.capacity,
        reserved: p?.reserved ?? 0,
        conferences: p?.conferences ?? 0,
        health: p?.markedDown
          ? 'marked-down'
          : r.state === 'draining'
            ? 'draining'
            : r.state === 'down'
              ? 'marked-down'
              : 'up',
      });
    }
    for (const p of polled.values()) {
      if (rows.has(p.id)) continue;
      // known to the schedulers only: without a registry feed it is live when the scheduler says so
      const live = p.live && this.records.servers.size === 0;
      rows.set(p.id, {
        id: p.id,
        address: p.address,
        region: p.region,
        state: p.state,
        load: p.load,
        capacity: p.capacity,
        reserved: p.reserved,
        conferences: p.conferences,
        health: p.markedDown ? 'marked-down' : !live ? 'expired' : p.state === 'draining' ? 'draining' : 'up',
      });
    }
    return [...rows.values()].sort(byIdOrder);
  }

  private conferenceRows(): ConferenceRow[] {
    const rows = new Map<string, ConferenceRow>();
    for (const c of this.firstScheduler()?.conferences ?? []) {
      rows.set(c.id, {
        id: c.id,
        state: c.state,
        region: c.region,
        participants: c.expectedParticipants,
        serverId: c.assignment?.serverId ?? null,
        epoch: c.assignment?.epoch ?? null,
        moves: c.assignment?.moves ?? 0,
        history: this.history.get(c.id) ?? [],
      });
    }
    // the feed is newer than a poll for placed conferences
    for (const r of this.records.assignments.values()) {
      const epoch = Number(r.meta['epoch'] ?? NaN);
      rows.set(r.id, {
        id: r.id,
        state: 'placed',
        region: r.region,
        participants: r.load,
        serverId: r.meta['serverId'] ?? null,
        epoch: Number.isFinite(epoch) ? epoch : null,
        moves: Number(r.meta['moves'] ?? 0) || 0,
        history: [...(this.history.get(r.id) ?? [])],
      });
    }
    return [...rows.values()].sort(byIdOrder);
  }

  private hostRows(): PopHostRow[] {
    const rows = new Map<string, PopHostRow>();
    for (const { url, data } of this.dataOf<PopRouterData>('pop-router')) {
      for (const h of data.hosts) {
        const prev = rows.get(h.id);
        // the view with the higher incarnation is the newer one; a host's own view of itself wins a tie
        if (prev && prev.incarnation > h.incarnation) continue;
        if (prev && prev.incarnation === h.incarnation && h.id !== data.self) continue;
        rows.set(h.id, { ...h, router: h.id === data.self ? url : (prev?.router ?? null) });
      }
      const self = rows.get(data.self);
      if (self) self.router = url;
    }
    return [...rows.values()].sort(byIdOrder);
  }

  private sessionsChanged(): void {
    this.sessionsVersion++;
    this.sessionIndex = undefined;
    this.dirty.add('sessions');
  }

  private sessionsSummary(): SessionsSummary {
    const idx = (this.sessionIndex ??= this.buildSessionIndex());
    return { total: idx.all.length, version: this.sessionsVersion, head: idx.all.slice(0, SESSION_HEAD) };
  }

  private buildSessionIndex(): SessionIndex {
    const all: SessionRow[] = [];
    for (const s of this.endpoints.values())
      if (s.sortedSessions) for (const r of s.sortedSessions) all.push(r);
    all.sort(byIdOrder);
    const byOwner = new Map<string, SessionRow[]>();
    for (const r of all) {
      const list = byOwner.get(r.owner);
      if (list) list.push(r);
      else byOwner.set(r.owner, [r]);
    }
    return { all, byOwner };
  }

  private workerRows(): WorkerRow[] {
    const out: WorkerRow[] = [];
    for (const { url, data } of this.dataOf<DispatcherData>('dispatcher'))
      for (const w of data.workers)
        out.push({
          dispatcher: url,
          id: w.id,
          pid: w.pid,
          status: w.status,
          load: w.load,
          dialogs: w.state?.dialogs ?? 0,
          conferences: (w.state?.conferences ?? []).map((c) => c.id),
        });
    return out;
  }

  private queueRows(): ServiceQueue[] {
    const out: ServiceQueue[] = [];
    for (const { url, data } of this.dataOf<BalancerData>('balancer'))
      for (const s of data.services)
        out.push({ balancer: url, service: s.service, containers: s.containers });
    return out;
  }
}

function isKeyed(s: Section): s is KeyedSection {
  return s === 'conferences' || s === 'hosts';
}

const SECTION_OF: Record<TierName, Section> = {
  registry: 'endpoints',
  scheduler: 'schedulers',
  dispatcher: 'workers',
  'pop-router': 'hosts',
  balancer: 'queues',
};

function key(tier: TierName, url: string): string {
  return `${tier} ${url}`;
}

function byIdOrder(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
