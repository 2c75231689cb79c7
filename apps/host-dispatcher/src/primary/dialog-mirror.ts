/**
 * The primary's copy of every dialog its workers hold (issue 9 §6: a worker crash loses no established call). Pure:
 * fed the workers' dialog reports (`open` with the state, `mirror` with changes, `close`) and the crash of a worker,
 * it answers which dialogs the crashed worker's heir must adopt. Memory is bounded: at most `maxDialogsPerWorker`
 * states per worker (the worker's own cap) of at most `maxStateBytes` each (JSON); what exceeds either is not
 * mirrored and is counted.
 *
 * Late news: Node may deliver a worker's last IPC messages after its exit. A dialog opened or closed in those
 * messages is passed on to the heir ({@link lateOpened}, {@link lateClosed}), for the last `rememberHeirs` crashes.
 */
import { dialogStateKey, type DialogState } from '../worker/dialog-state.js';

export interface DialogMirrorInit {
  /** States mirrored per worker at most (the worker refuses dialogs past its own cap anyway). */
  maxDialogsPerWorker: number;
  /** A state larger than this as JSON (bytes) is not mirrored: its call is lost on a crash, as before. */
  maxStateBytes: number;
  /** How many past crashes keep their heir for late reports. */
  rememberHeirs: number;
}

export const DIALOG_MIRROR_DEFAULTS = {
  /** 16 KiB: the default largest SIP message; a state is a small part of its INVITE. */
  maxStateBytes: 16_384,
  /** A handful of crashes close together; older ones have delivered their last messages long ago. */
  rememberHeirs: 16,
} as const;

export interface MirrorCounters {
  /** States taken into the mirror (opens). */
  mirrored: number;
  /** Updates applied. */
  updates: number;
  /** Opens not mirrored: over the per-worker bound. */
  overCap: number;
  /** Opens not mirrored: state too large. */
  tooLarge: number;
  /** Dialogs handed to an heir after a crash. */
  handedOver: number;
}

export class DialogMirror {
  private readonly byWorker = new Map<string, Map<string, DialogState>>();
  /** crashed worker → the worker that adopted its dialogs (insertion order: oldest first). */
  private readonly heirs = new Map<string, string>();
  readonly counters: MirrorCounters = { mirrored: 0, updates: 0, overCap: 0, tooLarge: 0, handedOver: 0 };

  constructor(private readonly init: DialogMirrorInit) {}

  /** A worker reports a new (or adopted) dialog with its state. Returns false when it is not mirrored. */
  opened(worker: string, state: DialogState): boolean {
    let m = this.byWorker.get(worker);
    if (!m) this.byWorker.set(worker, (m = new Map()));
    const key = dialogStateKey(state);
    if (!m.has(key)) {
      if (m.size >= this.init.maxDialogsPerWorker) {
        this.counters.overCap++;
        return false;
      }
      if (JSON.stringify(state).length > this.init.maxStateBytes) {
        this.counters.tooLarge++;
        return false;
      }
      this.counters.mirrored++;
    }
    m.set(key, state);
    return true;
  }

  /** Changed states: applied to dialogs the mirror holds for that worker; others (ended, never mirrored) ignored. */
  updated(worker: string, states: readonly DialogState[]): void {
    const m = this.byWorker.get(worker);
    if (!m) return;
    for (const s of states) {
      const key = dialogStateKey(s);
      if (!m.has(key)) continue;
      if (JSON.stringify(s).length > this.init.maxStateBytes) continue;
      m.set(key, s);
      this.counters.updates++;
    }
  }

  closed(worker: string, key: string): void {
    this.byWorker.get(worker)?.delete(key);
  }

  /** Dialogs mirrored for a worker. */
  count(worker: string): number {
    return this.byWorker.get(worker)?.size ?? 0;
  }

  /** A worker is gone: its dialogs, for an heir to adopt. The mirror forgets them (the heir reports them again). */
  orphans(worker: string): DialogState[] {
    const m = this.byWorker.get(worker);
    this.byWorker.delete(worker);
    return m ? [...m.values()] : [];
  }

  /**
   * `heir` adopts `states` of the crashed `dead`: they are mirrored under the heir at once (a second crash before
   * its reports arrive loses nothing either), and late reports of `dead` are passed on to it.
   */
  handOver(dead: string, heir: string, states: readonly DialogState[]): void {
    this.heirs.delete(dead);
    this.heirs.set(dead, heir);
    while (this.heirs.size > this.init.rememberHeirs) this.heirs.delete(this.heirs.keys().next().value!);
    for (const s of states) this.opened(heir, s);
    this.counters.handedOver += states.length;
  }

  /** Who adopted the dialogs of a crashed worker (following a chain of crashes), if anyone. */
  heirOf(dead: string): string | undefined {
    let h = this.heirs.get(dead);
    for (let i = 0; h !== undefined && this.heirs.has(h) && i < this.init.rememberHeirs; i++)
      h = this.heirs.get(h);
    return h;
  }

  /** A dialog a crashed worker opened just before it died (delivered late): the heir must adopt it too. */
  lateOpened(dead: string, state: DialogState): string | undefined {
    const heir = this.heirOf(dead);
    if (heir !== undefined) {
      this.opened(heir, state);
      this.counters.handedOver++;
    }
    return heir;
  }

  /** A dialog a crashed worker ended just before it died (delivered late): the heir must end it too. */
  lateClosed(dead: string, key: string): string | undefined {
    const heir = this.heirOf(dead);
    if (heir !== undefined) this.closed(heir, key);
    return heir;
  }

  /** Forgets a worker that exited cleanly (drain, shutdown): nothing to hand over. */
  forget(worker: string): void {
    this.byWorker.delete(worker);
  }
}

/**
 * Encodes dialogs to adopt / end as seqpacket packets (type byte + JSON), each at most `maxBytes` long (the worker's
 * read buffer): as many states per packet as fit, one per packet at least. A single state the mirror took is never
 * larger than its `maxStateBytes`, which the caller keeps below `maxBytes`.
 */
export function mirrorPackets(
  frameType: number,
  put: readonly DialogState[],
  del: readonly string[],
  maxBytes: number,
): Buffer[] {
  const out: Buffer[] = [];
  const emit = (f: { put?: DialogState[]; del?: string[] }) =>
    out.push(Buffer.concat([Buffer.from([frameType]), Buffer.from(JSON.stringify(f), 'utf8')]));
  for (const batch of batches(put, maxBytes)) emit({ put: batch });
  for (const batch of batches(del, maxBytes)) emit({ del: batch });
  return out;
}

/** Splits items into runs whose JSON (with a packet's overhead) stays within `maxBytes`; one item per run at least. */
function batches<T>(items: readonly T[], maxBytes: number): T[][] {
  // a JSON document's overhead beyond its items: `{"put":[` … `]}` and the type byte
  const overhead = 16;
  const out: T[][] = [];
  let batch: T[] = [];
  let size = overhead;
  for (const item of items) {
    const n = Buffer.byteLength(JSON.stringify(item)) + 1;
    if (batch.length > 0 && size + n > maxBytes) {
      out.push(batch);
      batch = [];
      size = overhead;
    }
    batch.push(item);
    size += n;
  }
  if (batch.length) out.push(batch);
  return out;
}
