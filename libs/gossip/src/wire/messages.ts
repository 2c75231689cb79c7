/**
 * Decoded gossip messages and events, and the conversion to and from the compact array form put on the wire.
 * Decoding is total: any value that is not exactly a valid message gives `undefined`, never a throw.
 */

/** Message type byte (the second byte of every datagram). */
export const MsgType = {
  /** Direct probe: "are you alive?"; answered by an Ack. */
  Ping: 1,
  /** Indirect probe request: "ping `target` for me and forward its Ack". */
  PingReq: 2,
  /** Answer to a Ping (or forwarded answer to a PingReq). */
  Ack: 3,
  /** Events only: an immediate broadcast or a gossip-tick send. */
  Gossip: 4,
  /** One chunk of a full-state push-pull exchange (members and ownership). */
  State: 5,
} as const;
export type MsgTypeCode = (typeof MsgType)[keyof typeof MsgType];

export type MemberStatus = 'alive' | 'suspect' | 'dead' | 'left';

export type GossipEventMsg =
  | { kind: 'alive'; id: string; addr: string; inc: number }
  | { kind: 'suspect'; id: string; inc: number; from: string }
  | { kind: 'dead'; id: string; inc: number; from: string }
  | { kind: 'left'; id: string; inc: number }
  | { kind: 'claim'; session: string; owner: string; epoch: number; version: number }
  | { kind: 'close'; session: string; owner: string; epoch: number; version: number };

export interface MemberRecord {
  id: string;
  addr: string;
  inc: number;
  status: MemberStatus;
}

export interface OwnerRecord {
  session: string;
  owner: string;
  epoch: number;
  version: number;
  closed: boolean;
}

export type Message =
  | { type: typeof MsgType.Ping; seq: number; from: string; target: string; events: GossipEventMsg[] }
  | {
      type: typeof MsgType.PingReq;
      seq: number;
      from: string;
      target: string;
      targetAddr: string;
      events: GossipEventMsg[];
    }
  | { type: typeof MsgType.Ack; seq: number; from: string; events: GossipEventMsg[] }
  | { type: typeof MsgType.Gossip; from: string; events: GossipEventMsg[] }
  | {
      type: typeof MsgType.State;
      from: string;
      /** Set on the first chunk of a request: the receiver answers with its own full state. */
      reply: boolean;
      /** Set when the sender is joining (the receiver logs it; both sides merge the same way). */
      join: boolean;
      members: MemberRecord[];
      owners: OwnerRecord[];
    };

/** Limits on strings on the wire (UTF-16 code units; ASCII ids in practice). */
export const MAX_ID_LENGTH = 64;
export const MAX_ADDR_LENGTH = 64;
export const MAX_SESSION_LENGTH = 128;

const EV_CODE = { alive: 1, suspect: 2, dead: 3, left: 4, claim: 5, close: 6 } as const;
const STATUS_CODE: Record<MemberStatus, number> = { alive: 0, suspect: 1, dead: 2, left: 3 };
const STATUS_OF: readonly MemberStatus[] = ['alive', 'suspect', 'dead', 'left'];

export type WireValue = string | number | boolean | WireValue[];

/** The array form of one event, as it is packed. */
export function eventToWire(e: GossipEventMsg): WireValue[] {
  switch (e.kind) {
    case 'alive':
      return [EV_CODE.alive, e.id, e.addr, e.inc];
    case 'suspect':
    case 'dead':
      return [EV_CODE[e.kind], e.id, e.inc, e.from];
    case 'left':
      return [EV_CODE.left, e.id, e.inc];
    case 'claim':
    case 'close':
      return [EV_CODE[e.kind], e.session, e.owner, e.epoch, e.version];
  }
}

/** The array form of a message body (everything after the fixed header). */
export function messageToWire(m: Message): WireValue[] {
  switch (m.type) {
    case MsgType.Ping:
      return [m.seq, m.from, m.target, m.events.map(eventToWire)];
    case MsgType.PingReq:
      return [m.seq, m.from, m.target, m.targetAddr, m.events.map(eventToWire)];
    case MsgType.Ack:
      return [m.seq, m.from, m.events.map(eventToWire)];
    case MsgType.Gossip:
      return [m.from, m.events.map(eventToWire)];
    case MsgType.State:
      return [
        m.from,
        (m.reply ? 1 : 0) | (m.join ? 2 : 0),
        m.members.map((r) => [r.id, r.addr, r.inc, STATUS_CODE[r.status]]),
        m.owners.map((o) => [o.session, o.owner, o.epoch, o.version, o.closed ? 1 : 0]),
      ];
  }
}

const isStr = (v: unknown, max: number): v is string =>
  typeof v === 'string' && v.length > 0 && v.length <= max;
const isId = (v: unknown): v is string => isStr(v, MAX_ID_LENGTH);
const isAddr = (v: unknown): v is string => isStr(v, MAX_ADDR_LENGTH);
const isSession = (v: unknown): v is string => isStr(v, MAX_SESSION_LENGTH);
const isNat = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function eventFromWire(v: unknown): GossipEventMsg | undefined {
  if (!Array.isArray(v)) return undefined;
  switch (v[0]) {
    case EV_CODE.alive:
      return v.length === 4 && isId(v[1]) && isAddr(v[2]) && isNat(v[3])
        ? { kind: 'alive', id: v[1], addr: v[2], inc: v[3] }
        : undefined;
    case EV_CODE.suspect:
    case EV_CODE.dead:
      return v.length === 4 && isId(v[1]) && isNat(v[2]) && isId(v[3])
        ? { kind: v[0] === EV_CODE.suspect ? 'suspect' : 'dead', id: v[1], inc: v[2], from: v[3] }
        : undefined;
    case EV_CODE.left:
      return v.length === 3 && isId(v[1]) && isNat(v[2]) ? { kind: 'left', id: v[1], inc: v[2] } : undefined;
    case EV_CODE.claim:
    case EV_CODE.close:
      return v.length === 5 && isSession(v[1]) && isId(v[2]) && isNat(v[3]) && isNat(v[4])
        ? {
            kind: v[0] === EV_CODE.claim ? 'claim' : 'close',
            session: v[1],
            owner: v[2],
            epoch: v[3],
            version: v[4],
          }
        : undefined;
    default:
      return undefined;
  }
}

function eventsFromWire(v: unknown): GossipEventMsg[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: GossipEventMsg[] = [];
  for (const item of v) {
    const e = eventFromWire(item);
    if (!e) return undefined;
    out.push(e);
  }
  return out;
}

function memberFromWire(v: unknown): MemberRecord | undefined {
  if (!Array.isArray(v) || v.length !== 4 || !isId(v[0]) || !isAddr(v[1]) || !isNat(v[2])) return undefined;
  const status = typeof v[3] === 'number' ? STATUS_OF[v[3]] : undefined;
  return status ? { id: v[0], addr: v[1], inc: v[2], status } : undefined;
}

function ownerFromWire(v: unknown): OwnerRecord | undefined {
  if (
    !Array.isArray(v) ||
    v.length !== 5 ||
    !isSession(v[0]) ||
    !isId(v[1]) ||
    !isNat(v[2]) ||
    !isNat(v[3])
  ) {
    return undefined;
  }
  if (v[4] !== 0 && v[4] !== 1) return undefined;
  return { session: v[0], owner: v[1], epoch: v[2], version: v[3], closed: v[4] === 1 };
}

function listFromWire<T>(v: unknown, one: (x: unknown) => T | undefined): T[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: T[] = [];
  for (const item of v) {
    const r = one(item);
    if (!r) return undefined;
    out.push(r);
  }
  return out;
}

/** A message of type `type` from its decoded body, or `undefined` when the body is not exactly valid. */
export function messageFromWire(type: number, body: unknown): Message | undefined {
  if (!Array.isArray(body)) return undefined;
  switch (type) {
    case MsgType.Ping: {
      if (body.length !== 4 || !isNat(body[0]) || !isId(body[1]) || !isId(body[2])) return undefined;
      const events = eventsFromWire(body[3]);
      return events && { type, seq: body[0], from: body[1], target: body[2], events };
    }
    case MsgType.PingReq: {
      if (body.length !== 5 || !isNat(body[0]) || !isId(body[1]) || !isId(body[2]) || !isAddr(body[3]))
        return undefined;
      const events = eventsFromWire(body[4]);
      return events && { type, seq: body[0], from: body[1], target: body[2], targetAddr: body[3], events };
    }
    case MsgType.Ack: {
      if (body.length !== 3 || !isNat(body[0]) || !isId(body[1])) return undefined;
      const events = eventsFromWire(body[2]);
      return events && { type, seq: body[0], from: body[1], events };
    }
    case MsgType.Gossip: {
      if (body.length !== 2 || !isId(body[0])) return undefined;
      const events = eventsFromWire(body[1]);
      return events && { type, from: body[0], events };
    }
    case MsgType.State: {
      if (body.length !== 4 || !isId(body[0]) || !isNat(body[1]) || body[1] > 3) return undefined;
      const members = listFromWire(body[2], memberFromWire);
      const owners = listFromWire(body[3], ownerFromWire);
      if (!members || !owners) return undefined;
      return { type, from: body[0], reply: (body[1] & 1) !== 0, join: (body[1] & 2) !== 0, members, owners };
    }
    default:
      return undefined;
  }
}
