/**
 * The part of the `@switchyard/registry` contract the scheduler uses. TEMPORARY: replaced by imports from the
 * real lib as soon as it is merged on main.
 */
import type { Clock, Startable } from '@switchyard/core';
import type { Logger } from 'pino';

export type ServiceState = 'serving' | 'draining' | 'down';
export interface ServiceRecord {
  id: string;
  service: string;
  address: string;
  region: string;
  load: number;
  capacity: number;
  state: ServiceState;
  meta: Record<string, string>;
  revision: number;
  expiresAt: number;
}
export interface RecordInput {
  id: string;
  service: string;
  address: string;
  ttlMs: number;
  region?: string;
  load?: number;
  capacity?: number;
  state?: ServiceState;
  meta?: Record<string, string>;
}
export type RecordPatch = Partial<
  Pick<ServiceRecord, 'address' | 'region' | 'load' | 'capacity' | 'state' | 'meta'>
>;
export interface WriteOptions {
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
  | { type: 'reset'; service: string; reason: string; revision: number };
export interface Watch extends AsyncIterable<FeedEvent> {
  close(): void;
}
export interface RegistryStore extends Startable {
  put(input: RecordInput, opts?: WriteOptions): Promise<ServiceRecord>;
  update(
    service: string,
    id: string,
    patch: RecordPatch,
    opts?: WriteOptions & { ttlMs?: number },
  ): Promise<ServiceRecord>;
  renew(service: string, id: string, ttlMs: number): Promise<ServiceRecord>;
  get(service: string, id: string): Promise<ServiceRecord | undefined>;
  list(service: string): Promise<ServiceRecord[]>;
  remove(service: string, id: string): Promise<boolean>;
  currentRevision(service: string): Promise<number>;
  watch(service: string, fromRevision?: number): Watch;
}
export interface LeaseLike extends Startable {
  readonly record: ServiceRecord | undefined;
  update(patch: RecordPatch): Promise<ServiceRecord>;
  on(
    listener: (e: { type: 'registered' | 'renewed' | 'lost' | 'error'; error?: unknown }) => void,
  ): () => void;
}
export type LeaseFactory = (
  components: { store: RegistryStore; clock: Clock; logger?: Logger },
  init: { record: RecordInput; renewEveryMs?: number },
) => LeaseLike;
