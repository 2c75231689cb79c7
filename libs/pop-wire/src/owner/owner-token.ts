/**
 * Owner tokens (contract C9): the worker writes its Contact as `sip:<conference>@<vip>;sy-owner=<token>`, so every
 * in-dialog request (BYE, re-INVITE, …), whose Request-URI is that Contact (RFC 3261 §12.2.1.1), names the host
 * that owns its dialog. Any host of the POP routes it there from the Request-URI alone, before any table lookup —
 * even one that just joined with an empty table or missed the gossip.
 *
 * Token = `<host id>.<key id>.<MAC>`, MAC = base64url of the first 16 bytes of HMAC-SHA256(owner key, host id);
 * the owner keys are derived from the gossip keyring with their own label (the dispatcher never holds the gossip
 * secrets). The token is per host, not per dialog: it grants nothing but "route this to host X", which anyone can
 * already do by sending to X; what the MAC prevents is a token naming a host the keyring never vouched for (a
 * forged token falls back to the table and is counted). Per-host tokens make verification a byte comparison
 * against one precomputed token per known host and key: no crypto per packet.
 */
import { createHmac } from 'node:crypto';
import { PopWireError } from '../errors.js';
import {
  deriveKeys,
  type KeyringSecrets,
  type TunnelKeys,
  type TunnelKeysWire,
} from '../tunnel/tunnel-keys.js';

/** The URI parameter carrying the token. */
export const OWNER_PARAM = 'sy-owner';
const LABEL = 'switchyard/pop-owner/v1';
const MAC_BYTES = 16;
/** Longest token scanned (host ids are ≤ 64 bytes). */
export const OWNER_TOKEN_MAX = 64 + 1 + 3 + 1 + 22;

/** Owner keys: the same shape as the tunnel keys (id → 32-byte key, one primary). */
export type OwnerKeys = TunnelKeys;

/** Derives the owner keys from the gossip keyring (`HMAC-SHA256(secret, label)` per key id). */
export function deriveOwnerKeys(keyring: KeyringSecrets): OwnerKeys {
  return deriveKeys(keyring, LABEL, 'owner');
}

/** The token of `host` under key `keyId` (default: the primary). */
export function ownerToken(keys: OwnerKeys, host: string, keyId = keys.primary): string {
  const key = keys.keys.get(keyId);
  if (!key) throw new PopWireError('PWR_ERR_KEY', `owner key ${keyId} is not in the keyring`);
  const mac = createHmac('sha256', key).update(host).digest().subarray(0, MAC_BYTES).toString('base64url');
  return `${host}.${keyId}.${mac}`;
}

export type OwnerTokenVerdict =
  /** No `sy-owner` parameter in the Request-URI (or, for {@link OwnerTokenTable.scanVia}, the top Via). */
  | { kind: 'none' }
  /** A valid token of a host we know. */
  | { kind: 'owner'; host: string }
  /** A token whose MAC does not match (forged, or signed with a key we do not hold). */
  | { kind: 'forged' };

const NONE: OwnerTokenVerdict = { kind: 'none' };
const FORGED: OwnerTokenVerdict = { kind: 'forged' };
const SP = 32;
const CR = 13;
const SEMI = 59;
const QMARK = 63;
const GT = 62;

/**
 * Verifies owner tokens for a set of hosts. `setHosts` precomputes every host's token under every key (a handful of
 * HMACs per membership change); {@link scan} then costs a bounded byte search and one map lookup per packet.
 */
export class OwnerTokenTable {
  private readonly expected = new Map<string, string>();
  private readonly known = new Set<string>();
  private readonly needle = Buffer.from(`;${OWNER_PARAM}=`, 'latin1');
  /** The token of this host under the primary key (for the workers' Contact). */
  readonly selfToken: string;

  constructor(
    private readonly keys: OwnerKeys,
    self: string,
  ) {
    this.selfToken = ownerToken(keys, self);
    this.setHosts([self]);
  }

  setHosts(hosts: Iterable<string>): void {
    this.expected.clear();
    this.known.clear();
    for (const h of hosts) this.known.add(h);
    for (const h of this.known)
      for (const id of this.keys.keys.keys()) this.expected.set(ownerToken(this.keys, h, id), h);
  }

  /** Whether `host`'s tokens are precomputed. */
  knows(host: string): boolean {
    return this.known.has(host);
  }

  /** The verdict for one token string. */
  verify(token: string): OwnerTokenVerdict {
    const host = this.expected.get(token);
    return host === undefined ? FORGED : { kind: 'owner', host };
  }

  /**
   * Looks for the token in the Request-URI of the SIP request in `msg` (the first line, up to its ` SIP/2.0`):
   * raw bytes, no parsing of the rest of the message.
   */
  scan(msg: Uint8Array): OwnerTokenVerdict {
    const b = Buffer.isBuffer(msg) ? msg : Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength);
    // the request line: "METHOD SP Request-URI SP SIP/2.0"
    const lineEnd = b.indexOf(CR);
    const limit = lineEnd < 0 ? Math.min(b.length, 2048) : lineEnd;
    const uriStart = b.indexOf(SP);
    if (uriStart < 0 || uriStart >= limit) return NONE;
    const uriEnd = b.lastIndexOf(SP, limit - 1);
    if (uriEnd <= uriStart) return NONE;
    const at = b.indexOf(this.needle, uriStart);
    if (at < 0 || at >= uriEnd) return NONE;
    const start = at + this.needle.length;
    let end = start;
    while (end < uriEnd) {
      const c = b[end]!;
      if (c === SEMI || c === QMARK || c === GT) break;
      end++;
    }
    if (end === start || end - start > OWNER_TOKEN_MAX) return FORGED;
    return this.verify(b.toString('latin1', start, end));
  }

  /**
   * Looks for the token in the top Via of the SIP message in `msg` (contract C14): a response to a request the
   * owner's worker sent itself carries the owner there, since a response has no Request-URI. Raw bytes: the header
   * lines are walked up to the first `Via`/`v` header, whose first value (up to a comma) is searched.
   */
  scanVia(msg: Uint8Array): OwnerTokenVerdict {
    const b = Buffer.isBuffer(msg) ? msg : Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength);
    const [start, end] = topViaValue(b);
    if (start < 0) return NONE;
    const at = b.indexOf(this.needle, start);
    if (at < 0 || at >= end) return NONE;
    const from = at + this.needle.length;
    let to = from;
    while (to < end) {
      const c = b[to]!;
      if (c === SEMI || c === COMMA || c === SP || c === TAB) break;
      to++;
    }
    if (to === from || to - from > OWNER_TOKEN_MAX) return FORGED;
    return this.verify(b.toString('latin1', from, to));
  }
}

const COMMA = 44;
const TAB = 9;
const LF = 10;
const COLON = 58;

/**
 * `[start, end)` of the first Via value of a SIP message (from after `Via:` to the first comma or end of line), or
 * `[-1, -1]`. Header names are matched case-insensitively, compact `v` included (RFC 3261 §7.3.3).
 */
function topViaValue(b: Buffer): [number, number] {
  let line = b.indexOf(LF) + 1;
  while (line > 0 && line < b.length) {
    let eol = b.indexOf(LF, line);
    if (eol < 0) eol = b.length;
    const contentEnd = eol > line && b[eol - 1] === CR ? eol - 1 : eol;
    // the blank line ends the headers
    if (contentEnd === line) return [-1, -1];
    let name = line;
    while (name < contentEnd && b[name] !== COLON && b[name] !== SP && b[name] !== TAB) name++;
    const len = name - line;
    const first = b[line]! | 0x20;
    const isVia =
      (len === 1 && first === 0x76) ||
      (len === 3 && first === 0x76 && (b[line + 1]! | 0x20) === 0x69 && (b[line + 2]! | 0x20) === 0x61);
    if (isVia) {
      const colon = b.indexOf(COLON, name);
      if (colon < 0 || colon >= contentEnd) return [-1, -1];
      const comma = b.indexOf(COMMA, colon);
      return [colon + 1, comma < 0 || comma > contentEnd ? contentEnd : comma];
    }
    line = eol + 1;
  }
  return [-1, -1];
}

/** Owner keys on the router → dispatcher link: the same wire form as the tunnel keys. */
export type OwnerKeysWire = TunnelKeysWire;
