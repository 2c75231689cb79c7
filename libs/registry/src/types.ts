/** The service record and the store interface every backend implements (memory, redis). */
import type { Startable } from '@switchyard/core';

export type ServiceState = 'serving' | 'draining' | 'down';
export const SERVICE_STATES: readonly ServiceState[] = ['serving', 'draining', 'down'];

export interface ServiceRecord {
  id: string;
  service: string;
  address: string;
  region: string;
  load: number;
  capacity: number;
  state: ServiceState;
  meta: Record<string, string>;
  /** The service's revision counter at this record's last change (not bumped by renew). */
  revision: number;
  /**
   * Ms since epoch on the store's clock; renew() moves it without publishing, so in a feed event or snapshot it
   * is the value of that moment: a watcher must not judge liveness by it (the `expired` event is the expiry).
   */
  expiresAt: number;
}

export interface RecordInput {
  id: string;
  service: string;
  address: string;
  ttlMs: number;
  /** Default 'default'. */
  region?: string;
  /** Default 0. */
  load?: number;
  /** Default 0. */
  capacity?: number;
  /** Default 'serving'. */
  state?: ServiceState;
  /** Default {}; bounded size (REG_ERR_META_TOO_LARGE). */
  meta?: Record<string, string>;
}

/** Fields update() may change; `meta` replaces the whole map. */
export type RecordPatch = Partial<
  Pick<ServiceRecord, 'address' | 'region' | 'load' | 'capacity' | 'state' | 'meta'>
>;

export interface WriteOptions {
  /** Compare-and-set: REG_ERR_CONFLICT when the stored record's revision differs (0 = must not exist). */
  expectRevision?: number;
}

export type FeedEvent =
  | { type: 'snapshot'; service: string; records: ServiceRecord[]; revision: number }
  | {
      type: 'added' | 'updated' | 'expired' | 'removed';
      service: string;
      record: ServiceRecord;
      revision: number;
    }
  /** Continuity lost (e.g. Redis restarted, or the resume point was trimmed); a new snapshot follows at once. */
  | { type: 'reset'; service: string; reason: string; revision: number };

export type ChangeEvent = Extract<FeedEvent, { record: ServiceRecord }>;

export interface Watch extends AsyncIterable<FeedEvent> {
  close(): void;
}

export interface PutManyOptions {
  /**
   * false: resolve to an empty array instead of the stored records (the writes and events are the same). For a
   * caller that ignores them (the scheduler's feed publish): the records' revisions are then neither sent back by
   * Redis nor turned into objects, a cost per record on both sides.
   */
  returnRecords?: boolean;
}

export interface RegistryStore extends Startable {
  /** Create or replace; publishes added/updated at once. Throws REG_ERR_INVALID_*, REG_ERR_META_TOO_LARGE, REG_ERR_CONFLICT. */
  put(input: RecordInput, opts?: WriteOptions): Promise<ServiceRecord>;
  /**
   * Puts several records of ONE service at once (one round trip and one script on Redis), each published as by
   * put(); no compare-and-set. Validates every record first: a bad one throws and nothing is written.
   * Throws REG_ERR_INVALID_* (also when the services differ), REG_ERR_META_TOO_LARGE.
   */
  putMany?(inputs: readonly RecordInput[], opts?: PutManyOptions): Promise<ServiceRecord[]>;
  /** Patch a live record; publishes updated. Throws REG_ERR_NOT_FOUND, REG_ERR_CONFLICT, REG_ERR_INVALID_*. */
  update(
    service: string,
    id: string,
    patch: RecordPatch,
    opts?: WriteOptions & { ttlMs?: number },
  ): Promise<ServiceRecord>;
  /** Heartbeat: moves expiresAt, publishes nothing. REG_ERR_NOT_FOUND once expired (the caller re-puts). */
  renew(service: string, id: string, ttlMs: number): Promise<ServiceRecord>;
  get(service: string, id: string): Promise<ServiceRecord | undefined>;
  /** Live records only, sorted by id. */
  list(service: string): Promise<ServiceRecord[]>;
  /** Publishes removed; false when there was no live record. */
  remove(service: string, id: string): Promise<boolean>;
  currentRevision(service: string): Promise<number>;
  /** No fromRevision: snapshot then changes. With it: every change after it, or reset + snapshot when it is too old. */
  watch(service: string, fromRevision?: number): Watch;
}
