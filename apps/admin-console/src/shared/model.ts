/**
 * The console's state snapshot: what the server builds from the registry feed and the tiers' control APIs, and
 * what the page renders. Shared by the server and the page (no Node imports here).
 */

import type { Delta } from './delta.js';

export type TierName = 'registry' | 'scheduler' | 'dispatcher' | 'pop-router' | 'balancer';

/** One process of a tier that the console reads (a configured URL, or the Redis registry). */
export interface Endpoint {
  tier: TierName;
  url: string;
  up: boolean;
  /** Why it is down (connection refused, HTTP status, timeout …). */
  error?: string;
  /** Ms since epoch of the last good answer. */
  lastOkAt?: number;
  /** Round trip of the last poll. */
  latencyMs?: number;
}

export interface ShareInfo {
  round: number;
  total: number;
  n: number;
  share: number;
  claimed: number;
  placed: number;
  unplaceable: number;
  at: number;
}

export interface SchedulerRow {
  id: string;
  address: string;
  region: string;
  /** Its registry record is live. */
  live: boolean;
  lastShare?: ShareInfo;
}

export type ServerHealth = 'up' | 'draining' | 'marked-down' | 'expired';

export interface ServerRow {
  id: string;
  address: string;
  region: string;
  /** The registry state ('serving' | 'draining' | 'down'). */
  state: string;
  load: number;
  capacity: number;
  /** Participants the schedulers reserved on it (from a scheduler's /v1/servers). */
  reserved: number;
  conferences: number;
  health: ServerHealth;
}

export interface MoveRow {
  from: string | null;
  to: string;
  epoch: number;
  at: number;
}

export interface ConferenceRow {
  id: string;
  /** 'placed' from the assignment feed; 'pending' | 'claimed' | 'unplaceable' from a scheduler. */
  state: string;
  region: string;
  participants: number;
  serverId: string | null;
  epoch: number | null;
  moves: number;
  /** Placements the console saw (since it started), oldest first. */
  history: MoveRow[];
}

export type MemberState = 'alive' | 'suspect' | 'dead' | 'left';

export interface PopHostRow {
  id: string;
  address: string;
  tunnel: string;
  state: MemberState;
  incarnation: number;
  draining: boolean;
  sessions: number;
  /** The pop-router URL that answers for this host (when the console is configured with it). */
  router: string | null;
}

export interface SessionRow {
  id: string;
  owner: string;
  epoch: number;
  version: number;
}

/**
 * What the event stream says about the owned sessions: their count and a version that changes whenever any of
 * them changes. The rows themselves are read a page at a time (`GET /api/sessions`), only for the rows a table
 * shows: 50,000 sessions are 3 MB of JSON, which no page should parse on every change.
 */
export interface SessionsSummary {
  total: number;
  version: number;
  /** The first rows of all sessions (sorted by id, at most SESSION_HEAD): a table opened at the top needs no read. */
  head: SessionRow[];
}

/** Rows of the sessions sent with every sessions change (what a table shows at its top, with margin). */
export const SESSION_HEAD = 100;

/** `GET /api/sessions?owner=&offset=&limit=`: one window of the sessions, sorted by id. */
export interface SessionPage {
  version: number;
  /** Rows matching `owner` (all sessions when no owner is given). */
  total: number;
  offset: number;
  owner: string | null;
  rows: SessionRow[];
}

export interface WorkerRow {
  /** The dispatcher's control URL. */
  dispatcher: string;
  id: string;
  pid: number;
  status: string;
  load: number;
  dialogs: number;
  conferences: string[];
}

export interface ContainerRow {
  id: string;
  mode: string;
  address: string | null;
  capacity: number;
  reportedLoad: number;
  inFlight: number;
  score: number;
  state: string;
  registeredAt: number;
}

export interface ServiceQueue {
  balancer: string;
  service: string;
  /** Queue order: head first. */
  containers: ContainerRow[];
}

export interface AuditEntry {
  seq: number;
  at: number;
  role: string;
  action: string;
  target: string;
  ok: boolean;
  status: number | null;
  detail: string;
}

/** Load over time of every conference server: `t` ms since epoch, `load[i]` aligned with `t`. */
export interface LoadSeries {
  t: number[];
  servers: { id: string; load: (number | null)[] }[];
}

/** One process's traffic: its counters' rates per second between its last two `/metrics` reads. */
export interface ProcessTraffic {
  tier: TierName;
  url: string;
  /** Keyed by counter name (`placements`, `forwards`, `datagrams`, `toWorkers`, `requests:<service>`). */
  perS: Record<string, number>;
}

/** The traffic on each link between the tiers (per second, summed over the processes that count it). */
export interface LinkTraffic {
  /** Conferences placed by the schedulers (scheduler_placements_total). */
  placementsPerS: number;
  /** Datagrams forwarded to the owning POP host through the tunnel (pop_tunnel_injected_total). */
  forwardsPerS: number;
  /** SIP datagrams the host dispatchers received (sipdisp_datagrams_total). */
  datagramsPerS: number;
  /** Datagrams the dispatchers passed to their workers (sipdisp_forwarded_total). */
  toWorkersPerS: number;
  /** Requests the balancers routed, per service (balancer_requests_total). */
  requestsPerS: Record<string, number>;
}

/** Rates per second: from what the console sees (the feed, per sampling window), and from the tiers' counters. */
export interface Rates {
  placementsPerS: number;
  movesPerS: number;
  /** Each process whose `/metrics` the console read twice. */
  traffic: ProcessTraffic[];
  links: LinkTraffic;
}

export interface Snapshot {
  /** Grows by one per change pushed. */
  seq: number;
  /** Version of each keyed section as sent here: the next delta of that section starts from it. */
  versions: Record<KeyedSection, number>;
  /** Server time when this snapshot was built. */
  at: number;
  endpoints: Endpoint[];
  schedulers: SchedulerRow[];
  servers: ServerRow[];
  conferences: ConferenceRow[];
  hosts: PopHostRow[];
  sessions: SessionsSummary;
  workers: WorkerRow[];
  queues: ServiceQueue[];
  audit: AuditEntry[];
  series: LoadSeries;
  rates: Rates;
}

/** The parts of a snapshot pushed separately: only the sections that changed go over the wire. */
export const SECTIONS = [
  'endpoints',
  'schedulers',
  'servers',
  'conferences',
  'hosts',
  'sessions',
  'workers',
  'queues',
  'audit',
  'series',
  'rates',
] as const;
export type Section = (typeof SECTIONS)[number];

/**
 * Sections whose rows are sent as deltas after the snapshot (they can be long: 1,000 hosts, thousands of
 * conferences); the other sections are short and sent whole when they change.
 */
export const KEYED_SECTIONS = ['conferences', 'hosts'] as const;
export type KeyedSection = (typeof KEYED_SECTIONS)[number];
export type WholeSection = Exclude<Section, KeyedSection>;

/** An SSE `patch` event: the whole sections that changed, and deltas of the keyed ones. */
export interface Patch {
  seq: number;
  /** Server time of the push (the SSE write). */
  at: number;
  /** Server time the console first noticed a change batched into this event (a feed event or a poll answer). */
  noticedAt?: number;
  /** Server time the first registry feed event batched into this event reached the console's state. */
  feedAt?: number;
  sections: Partial<Pick<Snapshot, WholeSection>>;
  deltas?: { conferences?: Delta<ConferenceRow>; hosts?: Delta<PopHostRow> };
}

export type Role = 'viewer' | 'operator';

export interface SessionInfo {
  role: Role;
  /** The CSRF token to send as `x-csrf-token` with every mutation (operators only). */
  csrf: string | null;
}
