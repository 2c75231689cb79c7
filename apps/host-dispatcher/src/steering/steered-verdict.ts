/**
 * What a worker does with a datagram that reached it on a connected (steered) socket, without the primary: the
 * same decision the primary would take, restricted to what this worker can know for sure. Pure.
 */
import type { KeyResult } from '@switchyard/affinity';

/** What this worker holds: Call-IDs of its dialogs, and its conferences (each with at least one dialog). */
export interface HeldHere {
  hasCall(callId: string): boolean;
  hasConference(conf: string): boolean;
}

export type SteeredVerdict =
  /** Handle it here: the primary would have routed it to this worker. */
  | { kind: 'local'; conference: string | undefined }
  /** Hand it to the primary (a new call: admission control and the Call-ID binding are the primary's); keep the socket. */
  | { kind: 'bounce' }
  /** Hand it to the primary and close the connected socket: the peer sends something this worker does not hold. */
  | { kind: 'undelegate' };

/**
 * - a message of a dialog held here (any method, retransmissions included, responses to our own requests): local;
 * - a new INVITE (no To tag) whose Call-ID is not a dialog here: bounced, kept: the primary's admission control must
 *   see every new call, and it binds the Call-ID so the call's later messages are routed alike either way;
 * - any other request of a conference held here: local (the primary routes it here by its conference binding);
 * - everything else (another conference, no conference, a stray response, garbage): bounced and undelegated, the
 *   primary routes it (and answers garbage) as usual.
 */
export function steeredVerdict(r: KeyResult, held: HeldHere): SteeredVerdict {
  if (!r.ok) return { kind: 'undelegate' };
  const k = r.keys;
  if (held.hasCall(k.callId)) return { kind: 'local', conference: k.conferenceId };
  if (!k.isRequest) return { kind: 'undelegate' };
  const conf = k.conferenceId;
  if (conf === undefined || !held.hasConference(conf)) return { kind: 'undelegate' };
  if (k.method === 'INVITE' && k.toTag === undefined) return { kind: 'bounce' };
  return { kind: 'local', conference: conf };
}
