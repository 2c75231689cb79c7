/**
 * Keep-alive bookkeeping, pure: fed probe results, it says when a server goes down (after `misses` failures in a
 * row) and when it comes back (first success after being down).
 */

export type KeepAliveAction = 'none' | 'mark-down' | 'mark-up';

interface Entry {
  misses: number;
  down: boolean;
}

export class KeepAliveTracker {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly misses: number) {}

  /** `knownDown` is the shared down mark (another scheduler may have set it, or this one before a restart). */
  result(serverId: string, ok: boolean, knownDown = false): KeepAliveAction {
    let e = this.entries.get(serverId);
    if (!e) this.entries.set(serverId, (e = { misses: 0, down: knownDown }));
    if (knownDown) e.down = true;
    if (ok) {
      e.misses = 0;
      if (e.down) {
        e.down = false;
        return 'mark-up';
      }
      return 'none';
    }
    e.misses++;
    if (!e.down && e.misses >= this.misses) {
      e.down = true;
      return 'mark-down';
    }
    return 'none';
  }

  missesOf(serverId: string): number {
    return this.entries.get(serverId)?.misses ?? 0;
  }

  forget(serverId: string): void {
    this.entries.delete(serverId);
  }
}
