/** What the state machine reports to the application, and what it asks its driver to do. */
import type { OwnerEntry } from '../ownership/ownership-map.js';
import type { MemberStatus, Message } from '../wire/messages.js';

export interface MemberView {
  readonly id: string;
  readonly addr: string;
  readonly inc: number;
  readonly status: MemberStatus;
}

export type GossipEvent =
  /** A member we did not know is alive. */
  | { type: 'member-joined'; member: MemberView }
  /** A member is suspected (a probe failed); it has until the suspicion timeout to refute. */
  | { type: 'member-suspect'; member: MemberView }
  /** A suspected or dead member proved alive (refuted with a higher incarnation). */
  | { type: 'member-alive'; member: MemberView }
  | { type: 'member-dead'; member: MemberView }
  | { type: 'member-left'; member: MemberView }
  /** A session's entry changed (claim, takeover); `previous` is what it replaced. */
  | { type: 'owner-changed'; session: string; entry: OwnerEntry; previous: OwnerEntry | null }
  | { type: 'session-closed'; session: string; entry: OwnerEntry }
  /** `host` was declared dead or left: these open sessions point at it and must be re-homed by the application. */
  | { type: 'sessions-orphaned'; host: string; sessions: string[] }
  /** This member was suspected or declared dead by others and refuted with a new incarnation. */
  | { type: 'self-refuted'; inc: number };

export type Action =
  /** Send `msg` to one address. */
  | { type: 'send'; to: string; msg: Message }
  /** Send `msg` to every member: one multicast datagram, or one unicast datagram per live member. */
  | { type: 'broadcast'; msg: Message }
  | { type: 'event'; event: GossipEvent };
