/**
 * Hands the dialogs of a worker that crashed to another worker (issue 9 §6). Glue between the workers' reports, the
 * pure {@link DialogMirror}, the router (the Call-IDs and conferences move with the dialogs, so the conference →
 * worker affinity stays whole) and the heir's seqpacket connection (the dialogs reach the heir before any datagram
 * routed to it afterwards: same ordered channel).
 *
 * The heir: the spare promoted for the crashed worker, else the least-loaded ready worker. All of a crashed
 * worker's dialogs go to one heir, so a conference is never split. With no ready worker the dialogs wait for the
 * next one to come up.
 */
import type { Logger } from '@switchyard/core';
import { FRAME_MIRROR, type FromWorker } from '../ipc.js';
import type { DispatcherMetrics } from '../metrics.js';
import { dialogStateKey as dialogKey, type DialogState } from '../worker/dialog-state.js';
import { DialogMirror, mirrorPackets, type DialogMirrorInit } from './dialog-mirror.js';
import type { AffinityRouter } from './router.js';

export interface DialogHandoverComponents {
  logger: Logger;
  metrics: DispatcherMetrics;
  router: AffinityRouter;
  /** Writes one packet to a worker's seqpacket connection; false when it has none. */
  write(worker: string, packet: Buffer): boolean;
}

export interface DialogHandoverInit extends DialogMirrorInit {
  /** Largest packet the workers read (their seqpacket read buffer). */
  maxPacketBytes: number;
}

export class DialogHandover {
  readonly mirror: DialogMirror;
  /** Dialogs of crashed workers waiting for an heir, by crashed worker. */
  private readonly waiting = new Map<string, Map<string, DialogState>>();

  constructor(
    private readonly c: DialogHandoverComponents,
    private readonly init: DialogHandoverInit,
  ) {
    this.mirror = new DialogMirror(init);
  }

  /**
   * A report of a live worker. Returns true when the dialog report is an adoption (not a new session: the
   * session events were published when its first worker opened it).
   */
  report(worker: string, m: FromWorker): boolean {
    switch (m.t) {
      case 'open':
        if (m.d && !this.mirror.opened(worker, m.d))
          this.c.metrics.dialogsNotMirrored.inc({
            reason: this.mirror.count(worker) >= this.init.maxDialogsPerWorker ? 'over-cap' : 'too-large',
          });
        return m.adopted === true;
      case 'close':
        if (m.key !== undefined) this.mirror.closed(worker, m.key);
        return false;
      case 'mirror':
        this.mirror.updated(worker, m.put);
        return false;
      default:
        return false;
    }
  }

  /** A report that arrived after its worker's exit (Node may deliver the last IPC messages late). */
  lateReport(dead: string, m: FromWorker): void {
    const waiting = this.waiting.get(dead);
    if (m.t === 'open' && m.d) {
      if (waiting) waiting.set(dialogKey(m.d), m.d);
      else {
        const heir = this.mirror.lateOpened(dead, m.d);
        if (heir !== undefined) {
          this.c.router.adopt(heir, m.d.callId, m.d.conferenceId);
          this.send(heir, [m.d], []);
        }
      }
    } else if (m.t === 'close' && m.key !== undefined) {
      if (waiting) waiting.delete(m.key);
      else {
        const heir = this.mirror.lateClosed(dead, m.key);
        if (heir !== undefined) this.send(heir, [], [m.key]);
      }
    } else if (m.t === 'mirror') {
      if (waiting) for (const s of m.put) if (waiting.has(dialogKey(s))) waiting.set(dialogKey(s), s);
      const heir = waiting ? undefined : this.mirror.heirOf(dead);
      if (heir !== undefined) {
        this.mirror.updated(heir, m.put);
        this.send(heir, m.put, []);
      }
    }
  }

  /** A worker exited. `crashed`: it did not exit on our request; its dialogs go to an heir. */
  workerGone(worker: string, handOver: boolean): void {
    const orphans = this.mirror.orphans(worker);
    if (!handOver || orphans.length === 0) return;
    this.waiting.set(worker, new Map(orphans.map((s) => [dialogKey(s), s])));
  }

  /** After the pool's actions: hands waiting dialogs to `preferred` (a promoted spare) or the least-loaded worker. */
  settle(preferred: string | undefined): void {
    if (this.waiting.size === 0) return;
    const heir = preferred ?? this.c.router.leastLoaded();
    if (heir === undefined) return;
    for (const [dead, states] of [...this.waiting]) {
      const list = [...states.values()];
      for (const s of list) this.c.router.adopt(heir, s.callId, s.conferenceId);
      if (!this.send(heir, list, [])) return;
      this.waiting.delete(dead);
      this.mirror.handOver(dead, heir, list);
      this.c.metrics.dialogsHandedOver.inc(list.length);
      this.c.logger.warn(
        { crashed: dead, heir, dialogs: list.length },
        'dialogs of a crashed worker handed over',
      );
    }
  }

  private send(heir: string, put: readonly DialogState[], del: readonly string[]): boolean {
    for (const p of mirrorPackets(FRAME_MIRROR, put, del, this.init.maxPacketBytes))
      if (!this.c.write(heir, p)) return false;
    return true;
  }
}
