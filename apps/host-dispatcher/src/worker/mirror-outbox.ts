/**
 * The worker's side of the dialog mirror (issue 9 §6): a dialog's state goes to the primary with its `open` report
 * (synchronously, before its 2xx leaves the worker), and its changes (confirmed by the ACK, target refresh, CSeq)
 * are coalesced here and sent once per event-loop turn: one IPC message for all the dialogs changed in that turn,
 * nothing per packet. A dialog that ends drops its pending change, so the primary never hears of it again after
 * its `close`.
 */
import type { DialogState } from './dialog-state.js';

export class MirrorOutbox {
  private readonly pending = new Map<string, DialogState>();
  private scheduled = false;

  constructor(
    private readonly send: (put: DialogState[]) => void,
    private readonly schedule: (fn: () => void) => void = (fn) => setImmediate(fn),
  ) {}

  /** The dialog's state changed: sent at the end of this turn (the latest state, once). */
  changed(key: string, state: DialogState): void {
    this.pending.set(key, state);
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(() => this.flush());
  }

  /** The dialog ended: its pending change is not sent. */
  ended(key: string): void {
    this.pending.delete(key);
  }

  flush(): void {
    this.scheduled = false;
    if (this.pending.size === 0) return;
    const put = [...this.pending.values()];
    this.pending.clear();
    this.send(put);
  }

  get size(): number {
    return this.pending.size;
  }
}
