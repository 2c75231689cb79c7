/**
 * What the primary and its workers say to each other.
 *
 * - Datagrams go primary → worker over one SOCK_SEQPACKET connection per worker (node-unix-socket), one datagram per
 *   packet, with a small binary header carrying the peer address: message boundaries are kept and nothing is parsed
 *   twice.
 * - Control messages and descriptors (the bound UDP sockets, accepted TCP connections) go over Node's IPC channel.
 */
import type { UasInit } from './worker/uas.js';
import net from 'node:net';
import type { DialogState } from './worker/dialog-state.js';
import type { MediaMoveCounters } from './worker/media-move.js';

export const FRAME_UDP = 1;
/** A datagram that arrived encapsulated from another host (POP router); answered like a local one. */
export const FRAME_INJECTED = 2;
/** Worker → primary, first packet on the seqpacket connection: the worker id in ASCII. */
export const FRAME_HELLO = 3;
/** Primary → POP router: a session event, `JSON.stringify(SessionEvent & { event })` after the type byte. */
export const FRAME_SESSION = 4;
/**
 * Primary → worker: dialogs to adopt from a worker that crashed (issue 9 §6), JSON {@link MirrorFrame} after the
 * type byte. On the seqpacket connection, so it reaches the worker before any datagram routed to it afterwards.
 */
export const FRAME_MIRROR = 5;
export interface MirrorFrame {
  /** Dialogs to hold from now on. */
  put?: DialogState[];
  /** Dialog keys that ended on the worker that crashed (late news): to end here too. */
  del?: string[];
}
/**
 * Worker → primary (kernel steering): a datagram that reached the worker on a connected socket but is the primary's
 * to route (same header as FRAME_UDP, the key empty). `FRAME_BOUNCED_UNDELEGATE`: the worker closed that peer's
 * connected socket because of it (the delegation ended).
 */
export const FRAME_BOUNCED = 6;
export const FRAME_BOUNCED_UNDELEGATE = 7;
/** The hello a POP router sends instead of a worker id. */
export const POP_HELLO = 'pop';
/** type(1) local(1) port(2) addrLen(1) keyLen(2), then the address, the routing key and the payload. */
export const FRAME_FIXED = 7;
/** Longest textual address (IPv6 with zone) we carry. */
export const FRAME_MAX_ADDR = 64;

export interface FrameHeader {
  type: number;
  local: number;
  port: number;
  address: string;
  /**
   * The primary's routing decision: the conference key it routed a request by (the Request-URI user part by the
   * one URI grammar of @switchyard/affinity), or undefined when the message has none. The worker uses it as is and
   * never derives another.
   */
  key: string | undefined;
  payloadOffset: number;
}

/**
 * Writes the header into `out` and returns the payload offset. `out` is reused for every datagram (no allocation on
 * the hot path); it must hold FRAME_FIXED + FRAME_MAX_ADDR + the key's length + the payload.
 */
export function writeFrameHeader(
  out: Buffer,
  type: number,
  local: number,
  address: string,
  port: number,
  key?: string,
): number {
  out[0] = type;
  out[1] = local;
  out.writeUInt16BE(port, 2);
  const n = out.write(address, FRAME_FIXED, FRAME_MAX_ADDR, 'latin1');
  out[4] = n;
  const k = key === undefined ? 0 : out.write(key, FRAME_FIXED + n, 'latin1');
  out.writeUInt16BE(k, 5);
  return FRAME_FIXED + n + k;
}

/** Reads a frame header; undefined when the frame is too short to be one. */
export function readFrameHeader(buf: Buffer): FrameHeader | undefined {
  if (buf.length < FRAME_FIXED) return undefined;
  const n = buf[4]!;
  const k = buf.readUInt16BE(5);
  if (buf.length < FRAME_FIXED + n + k) return undefined;
  return {
    type: buf[0]!,
    local: buf[1]!,
    port: buf.readUInt16BE(2),
    address: buf.toString('latin1', FRAME_FIXED, FRAME_FIXED + n),
    key: k === 0 ? undefined : buf.toString('latin1', FRAME_FIXED + n, FRAME_FIXED + n + k),
    payloadOffset: FRAME_FIXED + n + k,
  };
}

export interface LocalAddress {
  address: string;
  port: number;
}

/** Primary → worker. */
export type ToWorker =
  | {
      t: 'init';
      id: string;
      seqpacketPath: string;
      locals: LocalAddress[];
      uas: UasInit;
      maxMessageBytes: number;
      tcpIdleMs: number;
      statsIntervalMs: number;
      /** Kernel steering's limits in the worker (absent: the named defaults). */
      steering?: { maxPerWorker: number; idleMs: number; idleSweepMs: number; drainMs?: number };
      /** The descriptor of the TCP hand-off channel (handoff-channel.ts); absent: TCP comes as 'tcp' messages. */
      handoffFd?: number;
    }
  | { t: 'udp'; local: number }
  /**
   * `bytes`: what the primary read before the hand-off, as a latin1 string (one char per byte, so any bytes round-trip
   * through the channel's JSON; see {@link tcpHandoff} and {@link handedOffBytes}).
   */
  | { t: 'tcp'; local: number; bytes: string }
  | { t: 'drain' }
  | { t: 'query'; q: number }
  | { t: 'violation'; kind: 'conference' | 'dialog'; key: string; owner: string }
  /** This host's POP owner token (C9) for the Contact of new dialogs; null: none (no POP router). */
  | { t: 'owner-token'; token: string | null }
  /** Kernel steering: open a connected socket to this peer (service address `local`) / close it. */
  | { t: 'steer'; local: number; address: string; port: number; gen: number }
  | { t: 'unsteer'; local: number; address: string; port: number; gen: number };

export interface WorkerConference {
  id: string;
  participants: number;
}

export interface WorkerState {
  id: string;
  pid: number;
  dialogs: number;
  transactions: number;
  conferences: WorkerConference[];
  /** callIds of the worker's dialogs (for the control API's affinity check). */
  callIds: string[];
  violations: number;
  malformed: number;
  tcpConnections: number;
  requests: number;
  retransmissionsAbsorbed: number;
  draining: boolean;
  /** Kernel steering: connected sockets open, datagrams handled from them, bounced to the primary. */
  steering?: { sockets: number; local: number; bounced: number; undelegated: number };
}

/** Worker → primary. */
export type FromWorker =
  | { t: 'ready' }
  /**
   * `conf`: the dialog's conference, absent when its INVITE's Request-URI had no user part. `d`: the dialog's state,
   * mirrored by the primary; `adopted`: taken over from a worker that crashed (not a new session).
   */
  | { t: 'open'; callId: string; conf?: string; d?: DialogState; adopted?: boolean }
  /** `key`: the dialog key (the mirror's), when the worker mirrors dialogs. */
  | { t: 'close'; callId: string; conf?: string; key?: string }
  /** Changed dialog states (confirmed, target refresh, CSeq), coalesced per event-loop turn. */
  | { t: 'mirror'; put: DialogState[] }
  | { t: 'state'; q: number; state: WorkerState }
  /** An in-dialog request for a dialog this worker does not hold: the primary says whether another worker does. */
  | { t: 'no-dialog'; callId: string }
  | { t: 'malformed'; reason: string }
  /** The media mover's counters since the worker started (sent every `statsIntervalMs` when they changed). */
  | { t: 'mover'; c: MediaMoveCounters }
  /** Kernel steering: the connected socket is up (`ok`), or was refused / closed (idle, error) with `reason`. */
  | {
      t: 'steered';
      local: number;
      address: string;
      port: number;
      gen: number;
      ok: boolean;
      reason?: 'idle' | 'refused' | 'revoked' | 'bounced' | 'worker-gone';
    };

/**
 * The IPC channel's serialization. JSON, not `'advanced'` (V8's structured clone): every message on the channel is
 * plain JSON (strings, numbers, booleans, null, arrays, plain objects; no Buffer, Map, BigInt or undefined that
 * matters), and Node's JSON path costs less per message than building a V8 serializer and deserializer for each one,
 * on both sides of every TCP hand-off (the handle's message and Node's ACK of it). Measured in docs/host-dispatcher.md.
 */
export const IPC_SERIALIZATION = 'json' as const;

/** The hand-off message of a TCP connection: the bytes already read travel as latin1 (lossless for any byte). */
export function tcpHandoff(local: number, bytes: Buffer): Extract<ToWorker, { t: 'tcp' }> {
  return { t: 'tcp', local, bytes: bytes.toString('latin1') };
}

/** The bytes of a hand-off message, as the primary read them. */
export function handedOffBytes(m: Extract<ToWorker, { t: 'tcp' }>): Buffer {
  return Buffer.from(m.bytes, 'latin1');
}

/**
 * The socket of a connection handed off by the primary. The primary sends the raw libuv handle (it never builds a
 * `net.Socket` for a connection it passes on); Node delivers it as is, and the worker wraps it, as Node's own IPC
 * does for a `net.Socket` it receives.
 */
export function handedOffSocket(handle: unknown): net.Socket {
  if (handle instanceof net.Socket) return handle;
  return new net.Socket({ handle, readable: true, writable: true } as net.SocketConstructorOpts);
}
