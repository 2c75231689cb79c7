/** Input checks shared by every backend and the push channel: bad input becomes a typed error, never stored. */
import { Type } from '@sinclair/typebox';
import { RegistryError } from './errors.js';
import {
  SERVICE_STATES,
  type RecordInput,
  type RecordPatch,
  type ServiceRecord,
  type ServiceState,
} from './types.js';

export interface RecordLimits {
  /** Longest id, service, address, region and meta key/value, in characters. */
  maxStringLength: number;
  /** Most entries in `meta`. */
  maxMetaEntries: number;
  /** Most bytes of `meta` encoded as JSON. */
  maxMetaBytes: number;
  /** Longest TTL accepted, ms. */
  maxTtlMs: number;
}

export const DEFAULT_LIMITS: Readonly<RecordLimits> = Object.freeze({
  maxStringLength: 256, // ids and addresses are short; this bounds a Redis hash field
  maxMetaEntries: 32, // meta is for small hints (zone, version), not payloads
  maxMetaBytes: 4096, // keeps every feed entry well under a network packet budget
  maxTtlMs: 24 * 3600_000, // a day: anything longer is a config mistake, not a lease
});

/** A positive integer config field with its default (init objects are not converted, so 1.5 or '5' is refused). */
export const positiveInt = (def: number) => Type.Integer({ exclusiveMinimum: 0, default: def });

/** The `limits` field of every store's and channel's init: missing values take {@link DEFAULT_LIMITS}. */
export const LimitsSchema = Type.Object(
  {
    maxStringLength: positiveInt(DEFAULT_LIMITS.maxStringLength),
    maxMetaEntries: positiveInt(DEFAULT_LIMITS.maxMetaEntries),
    maxMetaBytes: positiveInt(DEFAULT_LIMITS.maxMetaBytes),
    maxTtlMs: positiveInt(DEFAULT_LIMITS.maxTtlMs),
  },
  { default: {} },
);

const bad = (field: string, why: string): RegistryError =>
  new RegistryError('REG_ERR_INVALID_RECORD', `invalid record: ${field} ${why}`, { details: { field } });

function str(v: unknown, field: string, limits: RecordLimits): string {
  if (typeof v !== 'string' || v.length === 0) throw bad(field, 'must be a non-empty string');
  if (v.length > limits.maxStringLength)
    throw bad(field, `is longer than ${limits.maxStringLength} characters`);
  return v;
}

function num(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw bad(field, 'must be a finite number >= 0');
  return v;
}

function state(v: unknown): ServiceState {
  if (typeof v !== 'string' || !(SERVICE_STATES as readonly string[]).includes(v)) {
    throw bad('state', `must be one of ${SERVICE_STATES.join(', ')}`);
  }
  return v as ServiceState;
}

export function checkTtl(v: unknown, limits: RecordLimits): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > limits.maxTtlMs) {
    throw new RegistryError(
      'REG_ERR_INVALID_TTL',
      `ttlMs must be a number in (0, ${limits.maxTtlMs}] (got ${String(v)})`,
      {
        details: { ttlMs: v },
      },
    );
  }
  return Math.ceil(v);
}

function meta(v: unknown, limits: RecordLimits): Record<string, string> {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw bad('meta', 'must be an object of strings');
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length > limits.maxMetaEntries) {
    throw new RegistryError(
      'REG_ERR_META_TOO_LARGE',
      `meta has ${entries.length} entries (max ${limits.maxMetaEntries})`,
    );
  }
  const out: Record<string, string> = {};
  // JSON writes a UTF-16 code unit as at most 6 bytes (a \u escape), an entry adds 6 more ("":"" and a comma):
  // below that bound the exact size (a JSON.stringify per record, on the feed's write path) is not needed
  let bound = 2;
  for (const [k, val] of entries) {
    if (typeof val !== 'string') throw bad(`meta.${k}`, 'must be a string');
    out[k] = val;
    bound += 6 * (k.length + val.length) + 6;
  }
  if (bound <= limits.maxMetaBytes) return out;
  const bytes = Buffer.byteLength(JSON.stringify(out));
  if (bytes > limits.maxMetaBytes) {
    throw new RegistryError(
      'REG_ERR_META_TOO_LARGE',
      `meta is ${bytes} bytes encoded (max ${limits.maxMetaBytes})`,
    );
  }
  return out;
}

/** The stored fields of a record, without revision and expiresAt (those belong to the store). */
export type RecordBody = Omit<ServiceRecord, 'revision' | 'expiresAt'>;

/** Validates a put() input and fills defaults. Throws REG_ERR_INVALID_RECORD / _INVALID_TTL / _META_TOO_LARGE. */
export function normalizeInput(input: unknown, limits: RecordLimits): { body: RecordBody; ttlMs: number } {
  if (input === null || typeof input !== 'object') throw bad('(record)', 'must be an object');
  const i = input as Partial<Record<keyof RecordInput, unknown>>;
  const body: RecordBody = {
    id: str(i.id, 'id', limits),
    service: str(i.service, 'service', limits),
    address: str(i.address, 'address', limits),
    region: i.region === undefined ? 'default' : str(i.region, 'region', limits),
    load: i.load === undefined ? 0 : num(i.load, 'load'),
    capacity: i.capacity === undefined ? 0 : num(i.capacity, 'capacity'),
    state: i.state === undefined ? 'serving' : state(i.state),
    meta: i.meta === undefined ? {} : meta(i.meta, limits),
  };
  return { body, ttlMs: checkTtl(i.ttlMs, limits) };
}

/** Validates a patch and returns the merged body. Unknown keys are rejected so typos do not pass silently. */
export function applyPatch(body: RecordBody, patch: unknown, limits: RecordLimits): RecordBody {
  if (patch === null || typeof patch !== 'object') throw bad('(patch)', 'must be an object');
  const p = patch as Partial<Record<keyof RecordPatch, unknown>>;
  const allowed = new Set(['address', 'region', 'load', 'capacity', 'state', 'meta']);
  for (const k of Object.keys(p)) if (!allowed.has(k)) throw bad(k, 'cannot be patched');
  return {
    ...body,
    ...(p.address !== undefined && { address: str(p.address, 'address', limits) }),
    ...(p.region !== undefined && { region: str(p.region, 'region', limits) }),
    ...(p.load !== undefined && { load: num(p.load, 'load') }),
    ...(p.capacity !== undefined && { capacity: num(p.capacity, 'capacity') }),
    ...(p.state !== undefined && { state: state(p.state) }),
    ...(p.meta !== undefined && { meta: meta(p.meta, limits) }),
  };
}

/** Checks the (service, id) pair of a lookup. */
export function checkKey(service: unknown, id: unknown, limits: RecordLimits): void {
  str(service, 'service', limits);
  str(id, 'id', limits);
}

export function checkExpect(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
    throw bad('expectRevision', 'must be an integer >= 0');
  return v;
}

export function bodyOf(r: ServiceRecord): RecordBody {
  return {
    id: r.id,
    service: r.service,
    address: r.address,
    region: r.region,
    load: r.load,
    capacity: r.capacity,
    state: r.state,
    meta: r.meta,
  };
}
