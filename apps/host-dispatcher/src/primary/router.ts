/**
 * The primary's routing decisions, fed the keys of one message; no sockets. Affinity rules:
 *
 * 1. A Call-ID already bound goes to its worker (every later message of a call: ACK, BYE, re-INVITE, CANCEL,
 *    responses, retransmissions).
 * 2. A request outside a dialog for conference `C` (Request-URI user part) goes to the worker hosting `C`.
 * 3. Otherwise the least-loaded ready worker that is not draining takes it; an INVITE binds `C` to it.
 * 4. Responses and ACKs with no binding are strays and are dropped; an in-dialog request with no binding goes to the
 *    least-loaded worker, which answers 481.
 *
 * Bindings are reference-counted by the workers' dialog reports: a conference stays bound while it has a dialog,
 * then expires after `idleTtlMs` (the transaction timeout) like a Call-ID binding.
 */
import { AffinityTable, LeastLoadedQueue, type SipKeys } from '@switchyard/affinity';
import type { Clock } from '@switchyard/core';

export type RouteDecision =
  | { kind: 'worker'; worker: string; newConference: boolean }
  | { kind: 'drop'; reason: 'stray' | 'no-worker' | 'draining' };

export interface RouterInit {
  /** Idle lifetime of a binding with no dialog (ms). */
  idleTtlMs: number;
  /** Bindings per worker above which it counts as loaded. */
  loadThreshold: number;
}

/** Violation found by comparing a worker's dialog report with the other workers' reports. */
export interface Violation {
  kind: 'conference' | 'dialog';
  key: string;
  owner: string;
  reporter: string;
}

/** Methods that create or join a conference (a binding of the conference to the chosen worker). */
const CONFERENCE_METHODS = new Set(['INVITE', 'SUBSCRIBE', 'REFER', 'MESSAGE']);

export class AffinityRouter {
  readonly calls: AffinityTable<string>;
  readonly conferences: AffinityTable<string>;
  private readonly queue = new LeastLoadedQueue<string>();
  /** Call-ID bindings per worker: the load measure. */
  private readonly load = new Map<string, number>();
  /** Ground truth from the workers' reports: who holds which dialog / conference (for violation checks). */
  private readonly dialogOwner = new Map<string, string>();
  private readonly conferenceOwner = new Map<string, { worker: string; dialogs: number }>();
  private closedForNew = false;
  private readonly unsubscribe: () => void;

  constructor(
    components: { clock: Clock },
    private readonly init: RouterInit,
  ) {
    this.calls = new AffinityTable<string>(components, { idleTtlMs: init.idleTtlMs });
    this.conferences = new AffinityTable<string>(components, { idleTtlMs: init.idleTtlMs });
    this.unsubscribe = this.calls.on((e) => {
      const delta = e.type === 'bind' ? 1 : -1;
      const n = Math.max(0, (this.load.get(e.owner) ?? 0) + delta);
      this.load.set(e.owner, n);
      if (this.queue.has(e.owner)) this.queue.update(e.owner, n);
    });
  }

  /** Decides where one message goes: {@link owned} if a worker here holds it, else {@link place}. */
  route(keys: SipKeys): RouteDecision {
    return this.owned(keys) ?? this.place(keys);
  }

  /**
   * The worker that already holds this message's dialog (Call-ID) or conference, if any. A new request of a bound
   * conference binds its Call-ID to the conference's worker on the way.
   */
  owned(keys: SipKeys): RouteDecision | undefined {
    const bound = this.calls.lookup(keys.callId);
    if (bound !== undefined) return { kind: 'worker', worker: bound, newConference: false };
    if (!this.joinsConference(keys)) return undefined;
    const host = this.conferences.lookup(keys.conferenceId!);
    if (host === undefined) return undefined;
    this.calls.bind(keys.callId, host);
    return { kind: 'worker', worker: host, newConference: false };
  }

  /** A message no worker holds: the least-loaded ready worker takes it (an INVITE binds its conference there). */
  place(keys: SipKeys): RouteDecision {
    if (!keys.isRequest || keys.method === 'ACK') return { kind: 'drop', reason: 'stray' };
    const joinsConference = this.joinsConference(keys);
    if (joinsConference && this.closedForNew) return { kind: 'drop', reason: 'draining' };
    const pick = this.queue.peek();
    if (!pick) return { kind: 'drop', reason: 'no-worker' };
    // an in-dialog request with no binding is not bound: the worker answers 481 and nothing should stick
    if (keys.toTag !== undefined) return { kind: 'worker', worker: pick.id, newConference: false };
    this.calls.bind(keys.callId, pick.id);
    if (joinsConference) this.conferences.bind(keys.conferenceId!, pick.id);
    return { kind: 'worker', worker: pick.id, newConference: joinsConference };
  }

  private joinsConference(keys: SipKeys): boolean {
    return (
      keys.isRequest &&
      keys.conferenceId !== undefined &&
      keys.toTag === undefined &&
      CONFERENCE_METHODS.has(keys.method ?? '')
    );
  }

  /** A worker is ready for new conferences. */
  workerUp(id: string): void {
    if (!this.queue.has(id)) this.queue.add(id, id, this.load.get(id) ?? 0);
  }

  /** No new conferences for this worker; its bound ones stay. */
  workerDraining(id: string): void {
    this.queue.remove(id);
  }

  /** The worker is gone: every binding it had is dropped, its conferences are re-homed on their next request. */
  workerDown(id: string): { calls: number; conferences: number } {
    this.queue.remove(id);
    const calls = this.calls.removeOwner(id).length;
    const conferences = this.conferences.removeOwner(id).length;
    this.load.delete(id);
    for (const [k, w] of this.dialogOwner) if (w === id) this.dialogOwner.delete(k);
    for (const [k, c] of this.conferenceOwner) if (c.worker === id) this.conferenceOwner.delete(k);
    return { calls, conferences };
  }

  /**
   * `worker` adopted a dialog of a worker that crashed (issue 9 §6): its Call-ID and conference go to `worker` from
   * now on (the worker's `open` report then holds them). A key already bound elsewhere since the crash stays there.
   */
  adopt(worker: string, callId: string, conf: string | undefined): void {
    const bind = (table: AffinityTable<string>, key: string) => {
      const b = table.get(key);
      if (b === undefined) table.bind(key, worker);
    };
    bind(this.calls, callId);
    if (conf !== undefined) bind(this.conferences, conf);
  }

  /** The ready worker with the least load, if any. */
  leastLoaded(): string | undefined {
    return this.queue.peek()?.id;
  }

  /** Dispatcher-wide drain (SIGTERM): no new conferences anywhere. */
  closeForNew(): void {
    this.closedForNew = true;
  }

  /**
   * A worker reports a dialog: holds the bindings while it lasts. Returns a violation when another worker already
   * holds that conference or dialog.
   */
  dialogOpened(worker: string, callId: string, conf: string | undefined): Violation | undefined {
    let violation: Violation | undefined;
    if (conf !== undefined) {
      const confOwner = this.conferenceOwner.get(conf);
      if (confOwner && confOwner.worker !== worker) {
        violation = { kind: 'conference', key: conf, owner: confOwner.worker, reporter: worker };
      } else if (confOwner) {
        confOwner.dialogs++;
      } else {
        this.conferenceOwner.set(conf, { worker, dialogs: 1 });
      }
    }
    const dialogOwner = this.dialogOwner.get(callId);
    if (!violation && dialogOwner !== undefined && dialogOwner !== worker) {
      violation = { kind: 'dialog', key: callId, owner: dialogOwner, reporter: worker };
    }
    // the dialog lives on the reporter whatever else holds: its messages must keep reaching it while it lasts
    this.hold(this.calls, callId, worker);
    if (violation) return violation;
    this.dialogOwner.set(callId, worker);
    if (conf !== undefined) this.hold(this.conferences, conf, worker);
    return undefined;
  }

  dialogClosed(worker: string, callId: string, conf: string | undefined): void {
    if (this.dialogOwner.get(callId) === worker) this.dialogOwner.delete(callId);
    const release = (table: AffinityTable<string>, key: string) => {
      const b = table.get(key);
      if (b && b.owner === worker && b.refs > 0) table.release(key);
    };
    release(this.calls, callId);
    if (conf === undefined) return;
    const c = this.conferenceOwner.get(conf);
    if (c && c.worker === worker && --c.dialogs <= 0) this.conferenceOwner.delete(conf);
    release(this.conferences, conf);
  }

  /** A worker got an in-dialog request it does not hold: a violation if another worker holds that dialog. */
  noDialog(worker: string, callId: string): Violation | undefined {
    const owner = this.dialogOwner.get(callId);
    return owner !== undefined && owner !== worker
      ? { kind: 'dialog', key: callId, owner, reporter: worker }
      : undefined;
  }

  /** True when every ready worker is at or above the threshold (time to start another). */
  allAboveThreshold(): boolean {
    const least = this.queue.peek();
    return least === undefined || least.load >= this.init.loadThreshold;
  }

  /** Workers taking new conferences. */
  get readyWorkers(): number {
    return this.queue.size;
  }

  loadOf(worker: string): number {
    return this.load.get(worker) ?? 0;
  }

  /** Worker holding a conference per the dialog reports (for the control API). */
  conferenceHost(conf: string): string | undefined {
    return this.conferenceOwner.get(conf)?.worker ?? this.conferences.get(conf)?.owner;
  }

  stop(): void {
    this.unsubscribe();
    this.calls.stop();
    this.conferences.stop();
  }

  private hold(table: AffinityTable<string>, key: string, worker: string): void {
    const b = table.get(key);
    if (b === undefined) {
      // re-homed or expired between the request and the report: bind it again where it lives
      table.bind(key, worker);
    } else if (b.owner !== worker) {
      return;
    }
    table.acquire(key);
  }
}
