/**
 * SIP session keys by a single forward scan over the bytes: the start line, then only the headers that carry keys
 * (Call-ID / `i`, From / `f`, To / `t`, CSeq). No full parse, no regular expression, no intermediate strings: the
 * only allocations are the result object and the strings it holds. Total over any input: every index only moves
 * forward and every loop is bounded by the message length, so any bytes give a key or a typed reason, never a throw
 * or a hang.
 *
 * Strings are decoded as latin1, one char per byte: the mapping is one-to-one, so distinct bytes never collapse into
 * the same key, and header values a SIP stack might leave undecoded (non-UTF-8 bytes) still give a stable key.
 */
import { Buffer } from 'node:buffer';
import { newSipUriSpans, scanSipUri } from './sip-uri.js';

/** Reused by every scan (the scanner is synchronous). */
const uriSpans = newSipUriSpans();

export type NoKeyReason = 'empty' | 'too-large' | 'not-sip' | 'bad-start-line' | 'truncated' | 'no-call-id';

export interface SipKeys {
  isRequest: boolean;
  /** Request method, e.g. 'INVITE' (undefined for responses). */
  method: string | undefined;
  /** Response status (undefined for requests). */
  statusCode: number | undefined;
  /** E.g. 'sip:conf-42@pop.example' (requests only). */
  requestUri: string | undefined;
  /** User part of the Request-URI, e.g. 'conf-42' (requests only; undefined when the URI has no user part). */
  conferenceId: string | undefined;
  /** Call-ID or compact 'i:'. */
  callId: string;
  /** Tag parameter of From / 'f:'. */
  fromTag: string | undefined;
  /** Tag parameter of To / 't:'. */
  toTag: string | undefined;
  /** Method of the CSeq header. */
  cseqMethod: string | undefined;
}

export type KeyResult = { ok: true; keys: SipKeys } | { ok: false; reason: NoKeyReason };

/** Largest message scanned by default: the largest UDP payload. */
export const DEFAULT_MAX_SIP_BYTES = 65535;

// Results for failures are shared constants: rejecting garbage allocates nothing.
const NO_KEY: Record<NoKeyReason, KeyResult> = {
  empty: Object.freeze({ ok: false, reason: 'empty' }),
  'too-large': Object.freeze({ ok: false, reason: 'too-large' }),
  'not-sip': Object.freeze({ ok: false, reason: 'not-sip' }),
  'bad-start-line': Object.freeze({ ok: false, reason: 'bad-start-line' }),
  truncated: Object.freeze({ ok: false, reason: 'truncated' }),
  'no-call-id': Object.freeze({ ok: false, reason: 'no-call-id' }),
};

const CR = 13;
const LF = 10;
const SP = 32;
const HT = 9;
const COLON = 58;
const SEMI = 59;
const LT = 60;
const GT = 62;
const DQUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const EQ = 61;

// RFC 3261 token characters: alphanum and -.!%*_+`'~
const TOKEN = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const ch = String.fromCharCode(c);
  TOKEN[c] = /[A-Za-z0-9\-.!%*_+`'~]/.test(ch) ? 1 : 0;
}

// Methods interned so that the common case allocates no method string.
const KNOWN_METHODS = [
  'INVITE',
  'ACK',
  'BYE',
  'CANCEL',
  'OPTIONS',
  'REGISTER',
  'INFO',
  'UPDATE',
  'PRACK',
  'SUBSCRIBE',
  'NOTIFY',
  'REFER',
  'MESSAGE',
  'PUBLISH',
];
const KNOWN_METHOD_BYTES = KNOWN_METHODS.map((m) => Buffer.from(m, 'latin1'));

const SIP20 = [83, 73, 80, 47, 50, 46, 48]; // 'SIP/2.0'

/** Header names we look at, lower-case bytes; compact forms are single letters. */
const H_CALL_ID = [99, 97, 108, 108, 45, 105, 100]; // call-id
const H_FROM = [102, 114, 111, 109]; // from
const H_TO = [116, 111]; // to
const H_CSEQ = [99, 115, 101, 113]; // cseq
const P_TAG = [116, 97, 103]; // tag

function isWs(c: number): boolean {
  return c === SP || c === HT;
}

function lower(c: number): number {
  return c >= 65 && c <= 90 ? c | 0x20 : c;
}

/** Case-insensitive compare of bytes [s, e) against lower-case `name`. */
function nameIs(b: Uint8Array, s: number, e: number, name: readonly number[]): boolean {
  if (e - s !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (lower(b[s + i]!) !== name[i]) return false;
  return true;
}

function bytesEqual(b: Uint8Array, s: number, e: number, word: Uint8Array | readonly number[]): boolean {
  if (e - s !== word.length) return false;
  for (let i = 0; i < word.length; i++) if (b[s + i] !== word[i]) return false;
  return true;
}

// Buffer#latin1Slice skips the argument handling of toString(): measurably faster for short strings.
type Latin1Sliceable = Buffer & { latin1Slice(start: number, end: number): string };
function latin1(b: Buffer, s: number, e: number): string {
  return (b as Latin1Sliceable).latin1Slice(s, e);
}

function asBuffer(message: Uint8Array): Buffer {
  return Buffer.isBuffer(message)
    ? message
    : Buffer.from(message.buffer, message.byteOffset, message.byteLength);
}

function methodString(buf: Buffer, s: number, e: number): string {
  for (let i = 0; i < KNOWN_METHOD_BYTES.length; i++) {
    if (bytesEqual(buf, s, e, KNOWN_METHOD_BYTES[i]!)) return KNOWN_METHODS[i]!;
  }
  return latin1(buf, s, e);
}

/**
 * Extracts the session keys of one SIP message (a UDP datagram, or the bytes of one message read from a stream).
 * Never throws: bytes that carry no key give `{ ok: false, reason }`. `truncated` means the header section did not
 * end (no blank line) inside `message`: on a stream, read more and try again.
 */
export function extractSipKeys(message: Uint8Array, init?: { maxBytes?: number }): KeyResult {
  const n = message.length;
  if (n === 0) return NO_KEY.empty;
  const max = init?.maxBytes ?? DEFAULT_MAX_SIP_BYTES;
  if (n > max) return NO_KEY['too-large'];
  const b = asBuffer(message);

  // RFC 3261 7.5: tolerate empty lines before the start line (keep-alive CRLFs on streams).
  let p = 0;
  while (p < n && (b[p] === CR || b[p] === LF)) p++;
  if (p === n) return NO_KEY.empty;
  // Line ends are found with Buffer#indexOf (memchr in native code): most header bytes are never looked at in JS.
  const slf = b.indexOf(LF, p);
  if (slf < 0) return NO_KEY.truncated;
  const sle = b[slf - 1] === CR ? slf - 1 : slf;

  let isRequest: boolean;
  let method: string | undefined;
  let statusCode: number | undefined;
  let requestUri: string | undefined;
  let conferenceId: string | undefined;

  if (sle - p >= 8 && bytesEqual(b, p, p + 7, SIP20) && b[p + 7] === SP) {
    // Status-Line: SIP/2.0 SP 3DIGIT SP Reason-Phrase
    isRequest = false;
    const d = p + 8;
    if (d + 3 > sle) return NO_KEY['bad-start-line'];
    let code = 0;
    for (let i = d; i < d + 3; i++) {
      const c = b[i]!;
      if (c < 48 || c > 57) return NO_KEY['bad-start-line'];
      code = code * 10 + (c - 48);
    }
    if (code < 100 || (d + 3 < sle && b[d + 3] !== SP)) return NO_KEY['bad-start-line'];
    statusCode = code;
  } else {
    // Request-Line: Method SP Request-URI SP SIP/2.0. It is SIP only if it ends with ' SIP/2.0'.
    if (sle - p < 8 + 4 || !bytesEqual(b, sle - 7, sle, SIP20) || b[sle - 8] !== SP) {
      return NO_KEY['not-sip'];
    }
    isRequest = true;
    let m = p;
    while (m < sle && TOKEN[b[m]!] === 1) m++;
    if (m === p || b[m] !== SP) return NO_KEY['bad-start-line'];
    const us = m + 1;
    const ue = sle - 8;
    if (ue <= us) return NO_KEY['bad-start-line'];
    if (!scanSipUri(b, us, ue, uriSpans)) return NO_KEY['bad-start-line'];
    method = methodString(b, p, m);
    requestUri = latin1(b, us, ue);
    // the one URI grammar (sip-uri.ts): the user part, as written, is the conference
    if (uriSpans.userEnd > uriSpans.userStart) conferenceId = latin1(b, uriSpans.userStart, uriSpans.userEnd);
  }

  let callId: string | undefined;
  let fromTag: string | undefined;
  let toTag: string | undefined;
  let cseqMethod: string | undefined;
  let sawFrom = false;
  let sawTo = false;
  let sawCseq = false;

  p = slf + 1;
  for (;;) {
    if (p >= n) return NO_KEY.truncated;
    const c0 = b[p]!;
    if (c0 === LF) break; // blank line: end of headers
    if (c0 === CR) {
      if (p + 1 >= n) return NO_KEY.truncated;
      if (b[p + 1] === LF) break;
    }
    // Logical header line [p, e): physical line plus continuation lines (starting with SP/HT).
    let lf = b.indexOf(LF, p);
    if (lf < 0) return NO_KEY.truncated;
    let next = lf + 1;
    while (next < n && isWs(b[next]!)) {
      lf = b.indexOf(LF, next);
      if (lf < 0) return NO_KEY.truncated;
      next = lf + 1;
    }
    if (next >= n) return NO_KEY.truncated; // the blank line cannot follow
    // Only headers whose name starts with c, f, i or t can carry a key: skip the rest without reading them.
    const l0 = c0 | 0x20;
    if (l0 === 99 || l0 === 102 || l0 === 105 || l0 === 116) {
      const e = b[lf - 1] === CR ? lf - 1 : lf;
      let ne = p;
      while (ne < e && TOKEN[b[ne]!] === 1) ne++;
      let colon = ne;
      while (colon < e && isWs(b[colon]!)) colon++;
      if (ne > p && colon < e && b[colon] === COLON) {
        const vs = colon + 1;
        const len = ne - p;
        if (callId === undefined && ((len === 1 && l0 === 105) || nameIs(b, p, ne, H_CALL_ID))) {
          callId = word(b, vs, e);
        } else if (!sawFrom && ((len === 1 && l0 === 102) || nameIs(b, p, ne, H_FROM))) {
          sawFrom = true;
          fromTag = tagParam(b, vs, e);
        } else if (!sawTo && ((len === 1 && l0 === 116) || nameIs(b, p, ne, H_TO))) {
          sawTo = true;
          toTag = tagParam(b, vs, e);
        } else if (!sawCseq && nameIs(b, p, ne, H_CSEQ)) {
          sawCseq = true;
          cseqMethod = cseqMethodOf(b, vs, e);
        }
      }
    }
    p = next;
  }
  if (callId === undefined) return NO_KEY['no-call-id'];
  return {
    ok: true,
    keys: { isRequest, method, statusCode, requestUri, conferenceId, callId, fromTag, toTag, cseqMethod },
  };
}

function isLws(c: number): boolean {
  return c === SP || c === HT || c === CR || c === LF;
}

/** First whitespace-delimited word of [s, e): the Call-ID value. Undefined when empty. */
function word(b: Buffer, s: number, e: number): string | undefined {
  while (s < e && isLws(b[s]!)) s++;
  let w = s;
  while (w < e && !isLws(b[w]!)) w++;
  return w > s ? latin1(b, s, w) : undefined;
}

/** Method token after the sequence number of a CSeq value. */
function cseqMethodOf(b: Buffer, s: number, e: number): string | undefined {
  while (s < e && isLws(b[s]!)) s++;
  while (s < e && b[s]! >= 48 && b[s]! <= 57) s++;
  while (s < e && isLws(b[s]!)) s++;
  let w = s;
  while (w < e && TOKEN[b[w]!] === 1) w++;
  return w > s ? methodString(b, s, w) : undefined;
}

/**
 * The `tag` parameter of a From/To value in [s, e). Parameters of the header follow the name-addr (after '>') or,
 * for a bare addr-spec, follow the URI; quoted display names and `<...>` are skipped so a ';tag=' inside them does
 * not count.
 */
function tagParam(b: Buffer, s: number, e: number): string | undefined {
  let i = s;
  // Find where header parameters may start.
  let angle = false;
  for (let j = s; j < e; j++) {
    const c = b[j]!;
    if (c === DQUOTE) {
      j++;
      while (j < e && b[j] !== DQUOTE) j += b[j] === BACKSLASH ? 2 : 1;
    } else if (c === LT) {
      angle = true;
      while (j < e && b[j] !== GT) j++;
      i = j + 1;
      break;
    } else if (c === SEMI) {
      break;
    }
  }
  if (!angle) {
    // addr-spec form: parameters start at the first ';' outside quotes
    i = s;
    while (i < e && b[i] !== SEMI) {
      if (b[i] === DQUOTE) {
        i++;
        while (i < e && b[i] !== DQUOTE) i += b[i] === BACKSLASH ? 2 : 1;
      }
      i++;
    }
  }
  while (i < e) {
    // at or before a ';'
    while (i < e && b[i] !== SEMI) {
      const c = b[i]!;
      if (c === COMMA) return undefined; // a second header value: the first had no tag
      if (c === DQUOTE) {
        i++;
        while (i < e && b[i] !== DQUOTE) i += b[i] === BACKSLASH ? 2 : 1;
      }
      i++;
    }
    if (i >= e) return undefined;
    i++;
    while (i < e && isLws(b[i]!)) i++;
    const ns = i;
    while (i < e && TOKEN[b[i]!] === 1) i++;
    const ne = i;
    while (i < e && isLws(b[i]!)) i++;
    if (nameIs(b, ns, ne, P_TAG) && i < e && b[i] === EQ) {
      i++;
      while (i < e && isLws(b[i]!)) i++;
      const vs = i;
      while (i < e && TOKEN[b[i]!] === 1) i++;
      return i > vs ? latin1(b, vs, i) : undefined;
    }
  }
  return undefined;
}

/** `${callId}\n${fromTag ?? ''}\n${toTag ?? ''}` — a stable dialog identifier. */
export function dialogKey(keys: Pick<SipKeys, 'callId' | 'fromTag' | 'toTag'>): string {
  return `${keys.callId}\n${keys.fromTag ?? ''}\n${keys.toTag ?? ''}`;
}
