/** The Call-IDs and conferences of a worker's dialogs, counted (a conference is held while any dialog is in it). */
import type { HeldHere } from './steered-verdict.js';

export class HeldCounts implements HeldHere {
  private readonly calls = new Map<string, number>();
  private readonly conferences = new Map<string, number>();

  opened(callId: string, conf: string | undefined): void {
    bump(this.calls, callId, 1);
    if (conf !== undefined) bump(this.conferences, conf, 1);
  }

  closed(callId: string, conf: string | undefined): void {
    bump(this.calls, callId, -1);
    if (conf !== undefined) bump(this.conferences, conf, -1);
  }

  hasCall(callId: string): boolean {
    return this.calls.has(callId);
  }

  hasConference(conf: string): boolean {
    return this.conferences.has(conf);
  }
}

function bump(m: Map<string, number>, key: string, d: number): void {
  const n = (m.get(key) ?? 0) + d;
  if (n > 0) m.set(key, n);
  else m.delete(key);
}
