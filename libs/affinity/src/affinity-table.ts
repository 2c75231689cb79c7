/**
 * Key → owner with reference counts and idle expiry. Every operation is O(1): bindings live in a Map, and the
 * bindings with no references sit in one intrusive list in order of last use. Because the idle TTL is the same for
 * every binding, that order is also the order of their deadlines, so a single timer (on the injected clock) aimed at
 * the head of the list is all expiry needs, and the head is also the least recently used eviction victim.
 */
import type { Clock, TimerHandle } from '@switchyard/core';
import { AffinityError } from './errors.js';

export interface AffinityTableInit {
  /** How long a binding with refs 0 lives unused, in ms. */
  idleTtlMs?: number;
  /** Size bound; beyond it the least recently used binding with refs 0 is evicted. */
  maxEntries?: number;
}

export const AFFINITY_TABLE_DEFAULTS: Readonly<Required<AffinityTableInit>> = Object.freeze({
  /** 64*T1 = 32 s, the SIP transaction timeout: a binding nobody holds outlives any retransmission of its request. */
  idleTtlMs: 32_000,
  /** About 200 MB of bindings at most: far above one host's sessions, low enough that a key flood cannot exhaust memory. */
  maxEntries: 1_000_000,
});

/** Short timers and a small bound, for tests. */
export const AFFINITY_TABLE_TEST_DEFAULTS: Readonly<Required<AffinityTableInit>> = Object.freeze({
  idleTtlMs: 1_000,
  maxEntries: 1_000,
});

export interface Binding<O> {
  readonly key: string;
  readonly owner: O;
  readonly refs: number;
  readonly boundAt: number;
  readonly lastUsed: number;
}

export type AffinityEvent<O> = { type: 'bind' | 'unbind' | 'expire' | 'evict'; key: string; owner: O };

interface Entry<O> {
  key: string;
  owner: O;
  refs: number;
  boundAt: number;
  lastUsed: number;
  /** In the idle list (refs 0) with these neighbours. */
  idle: boolean;
  prev: Entry<O> | undefined;
  next: Entry<O> | undefined;
}

function validate(init: AffinityTableInit | undefined): Readonly<Required<AffinityTableInit>> {
  const cfg = { ...AFFINITY_TABLE_DEFAULTS, ...init };
  if (!(Number.isFinite(cfg.idleTtlMs) && cfg.idleTtlMs > 0)) {
    throw new AffinityError('AFF_ERR_CONFIG', `idleTtlMs must be a positive number, got ${cfg.idleTtlMs}`, {
      details: { field: 'idleTtlMs' },
    });
  }
  if (!(Number.isSafeInteger(cfg.maxEntries) && cfg.maxEntries > 0)) {
    throw new AffinityError(
      'AFF_ERR_CONFIG',
      `maxEntries must be a positive integer, got ${cfg.maxEntries}`,
      {
        details: { field: 'maxEntries' },
      },
    );
  }
  return Object.freeze(cfg);
}

const snapshot = <O>(e: Entry<O>): Binding<O> => ({
  key: e.key,
  owner: e.owner,
  refs: e.refs,
  boundAt: e.boundAt,
  lastUsed: e.lastUsed,
});

export class AffinityTable<O> {
  readonly config: Readonly<Required<AffinityTableInit>>;
  private readonly clock: Clock;
  private readonly entries = new Map<string, Entry<O>>();
  private readonly byOwner = new Map<O, Set<string>>();
  private readonly listeners = new Set<(e: AffinityEvent<O>) => void>();
  private head: Entry<O> | undefined; // least recently used idle binding: first to expire, first to evict
  private tail: Entry<O> | undefined;
  private timer: TimerHandle | undefined;
  private stopped = false;

  /** Throws AFF_ERR_CONFIG naming the bad field of `init`. */
  constructor(components: { clock: Clock }, init?: AffinityTableInit) {
    this.clock = components.clock;
    this.config = validate(init);
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Binds `key` to `owner` with refs 0 (the idle TTL runs until {@link acquire}). Binding again to the same owner
   * returns the binding, refreshed. Throws AFF_ERR_ALREADY_BOUND for another owner, AFF_ERR_TABLE_FULL when the table
   * is at maxEntries and every binding is referenced.
   */
  bind(key: string, owner: O): Binding<O> {
    const now = this.clock.now();
    let e = this.live(key, now);
    if (e) {
      if (e.owner !== owner) {
        throw new AffinityError(
          'AFF_ERR_ALREADY_BOUND',
          `key ${JSON.stringify(key)} is bound to another owner`,
          {
            details: { key },
          },
        );
      }
      this.touch(e, now);
      return snapshot(e);
    }
    if (this.entries.size >= this.config.maxEntries) {
      const victim = this.head;
      if (!victim) {
        throw new AffinityError('AFF_ERR_TABLE_FULL', `all ${this.entries.size} bindings are referenced`, {
          details: { maxEntries: this.config.maxEntries },
        });
      }
      this.drop(victim);
      this.emit('evict', victim);
    }
    e = { key, owner, refs: 0, boundAt: now, lastUsed: now, idle: false, prev: undefined, next: undefined };
    this.entries.set(key, e);
    let keys = this.byOwner.get(owner);
    if (!keys) this.byOwner.set(owner, (keys = new Set()));
    keys.add(key);
    this.pushIdle(e);
    this.emit('bind', e);
    return snapshot(e);
  }

  /** The owner of `key`, refreshing its idle deadline; undefined when not bound (or past its deadline). */
  lookup(key: string): O | undefined {
    const now = this.clock.now();
    const e = this.live(key, now);
    if (!e) return undefined;
    this.touch(e, now);
    return e.owner;
  }

  /** The binding of `key` without refreshing it. */
  get(key: string): Binding<O> | undefined {
    const e = this.live(key, this.clock.now());
    return e ? snapshot(e) : undefined;
  }

  /** refs + 1; a referenced binding never expires nor is evicted. Throws AFF_ERR_NOT_BOUND. Returns the new count. */
  acquire(key: string): number {
    const now = this.clock.now();
    const e = this.live(key, now);
    if (!e)
      throw new AffinityError('AFF_ERR_NOT_BOUND', `key ${JSON.stringify(key)} is not bound`, {
        details: { key },
      });
    if (e.refs === 0) this.unlinkIdle(e);
    e.refs++;
    e.lastUsed = now;
    return e.refs;
  }

  /** refs − 1, never below 0; at 0 the idle TTL starts. Returns the new count (0 when not bound). */
  release(key: string): number {
    const now = this.clock.now();
    const e = this.live(key, now);
    if (!e) return 0;
    e.lastUsed = now;
    if (e.refs > 0) {
      e.refs--;
      if (e.refs === 0) this.pushIdle(e);
    } else {
      this.touch(e, now);
    }
    return e.refs;
  }

  /** Removes the binding (whatever its refs) and emits 'unbind'. False when not bound. */
  unbind(key: string): boolean {
    const e = this.entries.get(key);
    if (!e) return false;
    this.drop(e);
    this.emit('unbind', e);
    return true;
  }

  /** Unbinds every key of `owner` (emitting 'unbind' for each) and returns them: e.g. when a worker dies. */
  removeOwner(owner: O): string[] {
    const keys = [...(this.byOwner.get(owner) ?? [])];
    for (const k of keys) this.unbind(k);
    return keys;
  }

  keysOf(owner: O): string[] {
    return [...(this.byOwner.get(owner) ?? [])];
  }

  /** Subscribes to bind/unbind/expire/evict events, emitted after the table has changed. Returns the unsubscribe. */
  on(listener: (e: AffinityEvent<O>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Cancels the expiry timer; idle bindings past their deadline are still dropped lazily when looked up. */
  stop(): void {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  // --- internals ---------------------------------------------------------------------------------------------

  /** The entry of `key` unless it is idle past its deadline, in which case it expires now. */
  private live(key: string, now: number): Entry<O> | undefined {
    const e = this.entries.get(key);
    if (e && e.idle && e.lastUsed + this.config.idleTtlMs <= now) {
      this.drop(e);
      this.emit('expire', e);
      return undefined;
    }
    return e;
  }

  private touch(e: Entry<O>, now: number): void {
    e.lastUsed = now;
    if (e.idle && e !== this.tail) {
      this.unlinkIdle(e);
      this.pushIdle(e);
    }
  }

  private pushIdle(e: Entry<O>): void {
    e.idle = true;
    e.prev = this.tail;
    e.next = undefined;
    if (this.tail) this.tail.next = e;
    else this.head = e;
    this.tail = e;
    this.arm();
  }

  private unlinkIdle(e: Entry<O>): void {
    if (!e.idle) return;
    if (e.prev) e.prev.next = e.next;
    else this.head = e.next;
    if (e.next) e.next.prev = e.prev;
    else this.tail = e.prev;
    e.prev = e.next = undefined;
    e.idle = false;
  }

  private drop(e: Entry<O>): void {
    this.unlinkIdle(e);
    this.entries.delete(e.key);
    const keys = this.byOwner.get(e.owner);
    if (keys) {
      keys.delete(e.key);
      if (keys.size === 0) this.byOwner.delete(e.owner);
    }
  }

  /**
   * Aims the one timer at the head's deadline. The head only ever moves later (appends go to the tail with the
   * latest deadline), so an armed timer is never late; if it fires early it simply re-arms.
   */
  private arm(): void {
    if (this.stopped || !this.head || this.timer) return;
    const due = this.head.lastUsed + this.config.idleTtlMs;
    this.timer = this.clock.setTimeout(() => this.expireDue(), Math.max(0, due - this.clock.now()));
  }

  private expireDue(): void {
    this.timer = undefined;
    const now = this.clock.now();
    const expired: Entry<O>[] = [];
    while (this.head && this.head.lastUsed + this.config.idleTtlMs <= now) {
      const e = this.head;
      this.drop(e);
      expired.push(e);
    }
    this.arm();
    for (const e of expired) this.emit('expire', e);
  }

  private emit(type: AffinityEvent<O>['type'], e: Entry<O>): void {
    if (this.listeners.size === 0) return;
    const ev: AffinityEvent<O> = { type, key: e.key, owner: e.owner };
    for (const l of this.listeners) l(ev);
  }
}
