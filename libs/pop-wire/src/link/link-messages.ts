/**
 * The link between a host's pop-router and its dispatcher's primary: one SOCK_SEQPACKET connection (the router dials
 * the dispatcher's socket and says hello as `pop`), one message per packet, a type byte then the body.
 *
 * - router → dispatcher: {@link LINK_FRAME_TABLE} JSON {@link RouterToDispatcher}: on connect a `snapshot` (hosts,
 *   mode, keys; owners follow in `delta` chunks), then `delta`s as gossip changes the tables. Also
 *   `FRAME_INJECTED` frames (the host dispatcher's own format) for datagrams opened from the `udp` tunnel.
 * - dispatcher → router: {@link LINK_FRAME_SESSION} JSON {@link DispatcherToRouter}: claims and releases decided
 *   by the data plane, `held` (what it holds, sent on connect so a restarted router re-claims it), and the dialog
 *   events the dispatcher has always published.
 *
 * Either side restarting resynchronises: a new connection is a new snapshot one way and a `held` list the other.
 */
import type { TunnelKeysWire } from '../tunnel/tunnel-keys.js';

/** Same value as the host dispatcher's `FRAME_SESSION`. */
export const LINK_FRAME_SESSION = 4;
export const LINK_FRAME_TABLE = 5;
/** Bodies are chunked below this many bytes (well under the seqpacket read buffer of a 64 KiB datagram). */
export const LINK_MAX_BODY_BYTES = 32 * 1024;
/** Longest session id carried (as in the gossip wire). */
export const LINK_MAX_SESSION = 128;

export type Encapsulation = 'udp' | 'vxlan';

export interface LinkHost {
  id: string;
  /** Where encapsulated packets for this host go (`udp`: its router's tunnel socket; `vxlan`: its VXLAN port). */
  address: string;
  port: number;
  /** Header template (base64) for packets to this host. */
  template: string;
  alive: boolean;
}

/** The router's kernel forward, as the dispatcher needs it (see the snapshot's `kernelForward`). */
export interface KernelForwardWire {
  /** BPF map id of the forward table (hash: client IPv4, client port, service port → owner's encapsulation). */
  fwdMap: number;
  /** BPF map id of the per-CPU counters ([0] forwarded, [1] not encapsulated). */
  hitsMap: number;
  /** The interface the program is attached to (tc ingress). */
  device: string;
}

export type RouterToDispatcher =
  | {
      kind: 'snapshot';
      self: string;
      mode: Encapsulation;
      draining: boolean;
      /** `udp` mode: keys to seal tunnel packets with. */
      tunnelKeys?: TunnelKeysWire;
      /** Keys of the owner tokens in Contact (C9; both modes): the dispatcher signs and verifies with them. */
      ownerKeys?: TunnelKeysWire;
      hosts: LinkHost[];
      /**
       * vxlan mode with the router's `--kernel-forward`: the tc program is attached to this host's external
       * interface; the ids of its maps (global on the machine, so usable from any mount namespace), which the
       * dispatcher's primary fills with the clients it delegates (docs/pop-router.md "Kernel forward").
       */
      kernelForward?: KernelForwardWire;
    }
  | {
      kind: 'delta';
      draining?: boolean;
      hosts?: LinkHost[];
      hostsRemoved?: string[];
      /** `[session, owner]`; owner `null`: no owner any more (closed). */
      owners?: Array<[string, string | null]>;
    };

export type DispatcherToRouter =
  | { event: 'sessionOpened' | 'sessionClosed'; callId: string; conferenceId: string; worker: string }
  | { event: 'claim'; session: string }
  | { event: 'release'; session: string }
  /** Sessions with dialogs on this host now (sent on connect). */
  | { event: 'held'; sessions: string[] };

export function encodeLinkFrame(type: number, body: RouterToDispatcher | DispatcherToRouter): Buffer {
  const json = JSON.stringify(body);
  const b = Buffer.allocUnsafe(1 + Buffer.byteLength(json));
  b[0] = type;
  b.write(json, 1);
  return b;
}

/** Splits owner updates into deltas that each stay under {@link LINK_MAX_BODY_BYTES}. */
export function ownerDeltas(owners: Iterable<[string, string | null]>): RouterToDispatcher[] {
  const out: RouterToDispatcher[] = [];
  let chunk: Array<[string, string | null]> = [];
  let size = 0;
  for (const o of owners) {
    const n = o[0].length + (o[1]?.length ?? 4) + 8;
    if (size + n > LINK_MAX_BODY_BYTES - 64 && chunk.length) {
      out.push({ kind: 'delta', owners: chunk });
      chunk = [];
      size = 0;
    }
    chunk.push(o);
    size += n;
  }
  if (chunk.length) out.push({ kind: 'delta', owners: chunk });
  return out;
}

/** Splits a `held` list the same way. */
export function heldChunks(sessions: readonly string[]): DispatcherToRouter[] {
  const out: DispatcherToRouter[] = [];
  let chunk: string[] = [];
  let size = 0;
  for (const s of sessions) {
    if (size + s.length + 4 > LINK_MAX_BODY_BYTES - 64 && chunk.length) {
      out.push({ event: 'held', sessions: chunk });
      chunk = [];
      size = 0;
    }
    chunk.push(s);
    size += s.length + 4;
  }
  out.push({ event: 'held', sessions: chunk });
  return out;
}

const isStr = (v: unknown, max = 256): v is string =>
  typeof v === 'string' && v.length > 0 && v.length <= max;

function parseJson(frame: Buffer): unknown {
  try {
    return JSON.parse(frame.toString('utf8', 1));
  } catch {
    return undefined;
  }
}

function validHost(h: unknown): h is LinkHost {
  const x = h as LinkHost;
  return (
    typeof h === 'object' &&
    h !== null &&
    isStr(x.id, 64) &&
    isStr(x.address, 64) &&
    Number.isInteger(x.port) &&
    x.port > 0 &&
    x.port < 65536 &&
    typeof x.template === 'string' &&
    typeof x.alive === 'boolean'
  );
}

/** Total: undefined for anything that is not a well-formed router → dispatcher message. */
export function decodeRouterMessage(frame: Buffer): RouterToDispatcher | undefined {
  if (frame[0] !== LINK_FRAME_TABLE) return undefined;
  const m = parseJson(frame) as Record<string, unknown> | undefined;
  if (!m || typeof m !== 'object') return undefined;
  if (m['kind'] === 'snapshot') {
    if (!isStr(m['self'], 64) || (m['mode'] !== 'udp' && m['mode'] !== 'vxlan')) return undefined;
    if (typeof m['draining'] !== 'boolean' || !Array.isArray(m['hosts']) || !m['hosts'].every(validHost))
      return undefined;
    const k = m['tunnelKeys'] as TunnelKeysWire | undefined;
    if (k !== undefined && (typeof k !== 'object' || !Array.isArray(k.keys))) return undefined;
    const ok = m['ownerKeys'] as TunnelKeysWire | undefined;
    if (ok !== undefined && (typeof ok !== 'object' || ok === null || !Array.isArray(ok.keys)))
      return undefined;
    const kf = m['kernelForward'] as KernelForwardWire | undefined;
    if (
      kf !== undefined &&
      (typeof kf !== 'object' ||
        kf === null ||
        !Number.isInteger(kf.fwdMap) ||
        kf.fwdMap <= 0 ||
        !Number.isInteger(kf.hitsMap) ||
        kf.hitsMap <= 0 ||
        !isStr(kf.device, 15))
    )
      return undefined;
    return m as unknown as RouterToDispatcher;
  }
  if (m['kind'] === 'delta') {
    if (m['draining'] !== undefined && typeof m['draining'] !== 'boolean') return undefined;
    if (m['hosts'] !== undefined && !(Array.isArray(m['hosts']) && m['hosts'].every(validHost)))
      return undefined;
    const rm = m['hostsRemoved'];
    if (rm !== undefined && !(Array.isArray(rm) && rm.every((x) => isStr(x, 64)))) return undefined;
    const o = m['owners'];
    if (
      o !== undefined &&
      !(
        Array.isArray(o) &&
        o.every(
          (e) =>
            Array.isArray(e) &&
            e.length === 2 &&
            isStr(e[0], LINK_MAX_SESSION) &&
            (e[1] === null || isStr(e[1], 64)),
        )
      )
    )
      return undefined;
    return m as unknown as RouterToDispatcher;
  }
  return undefined;
}

/** Total: undefined for anything that is not a well-formed dispatcher → router message. */
export function decodeDispatcherMessage(frame: Buffer): DispatcherToRouter | undefined {
  if (frame[0] !== LINK_FRAME_SESSION) return undefined;
  const m = parseJson(frame) as Record<string, unknown> | undefined;
  if (!m || typeof m !== 'object') return undefined;
  switch (m['event']) {
    case 'sessionOpened':
    case 'sessionClosed':
      return isStr(m['callId'], 1024) && typeof m['conferenceId'] === 'string' && isStr(m['worker'], 64)
        ? (m as unknown as DispatcherToRouter)
        : undefined;
    case 'claim':
    case 'release':
      return isStr(m['session'], LINK_MAX_SESSION) ? (m as unknown as DispatcherToRouter) : undefined;
    case 'held':
      return Array.isArray(m['sessions']) && m['sessions'].every((s) => isStr(s, LINK_MAX_SESSION))
        ? (m as unknown as DispatcherToRouter)
        : undefined;
    default:
      return undefined;
  }
}

/** Frame type of a datagram injected into the dispatcher (same value and layout as the dispatcher's FRAME_INJECTED). */
export const LINK_FRAME_INJECTED = 2;
/**
 * type(1) local(1) port(2) addrLen(1) keyLen(2), then the address (latin1), the routing key (none here: the
 * dispatcher scans the datagram itself) and the datagram — the host dispatcher's frame header.
 */
export const LINK_INJECTED_FIXED = 7;

/**
 * Writes an injected-datagram frame into `out` (reused) and returns its length, or -1 when it does not fit or the
 * address is longer than 64 bytes.
 */
export function writeInjectedFrame(
  out: Buffer,
  local: number,
  address: string,
  port: number,
  payload: Uint8Array,
): number {
  const n = address.length;
  const total = LINK_INJECTED_FIXED + n + payload.length;
  if (n > 64 || total > out.length) return -1;
  out[0] = LINK_FRAME_INJECTED;
  out[1] = local;
  out.writeUInt16BE(port, 2);
  out[4] = n;
  out.writeUInt16BE(0, 5);
  out.write(address, LINK_INJECTED_FIXED, n, 'latin1');
  out.set(payload, LINK_INJECTED_FIXED + n);
  return total;
}
