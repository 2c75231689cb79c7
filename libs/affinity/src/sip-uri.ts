/**
 * The one SIP URI grammar of Switchyard (RFC 3261 §19.1.1, §25.1), used by the primary's fast key scanner
 * ({@link extractSipKeys}) and by the worker's full parser ({@link parseSipUri}) alike, so that both always agree on
 * what "the conference" of a Request-URI is.
 *
 *   SIP-URI  = ("sip:" / "sips:") [ userinfo ] hostport uri-parameters [ headers ]
 *   userinfo = user [ ":" password ] "@"
 *
 * Rules that decide the parts:
 * - An unescaped `@` appears nowhere in a SIP URI but at the end of userinfo (user, password, host, parameters and
 *   headers all escape it), so the URI has a user part iff it holds an `@`; userinfo ends at the first one.
 * - `user` ends at the first `:` of userinfo (the user part cannot hold an unescaped `:`); the rest is the password.
 *   `;` and `?` are user characters (RFC 3261 `user-unreserved`): in `sip:c;user=phone@h` the user is `c;user=phone`.
 * - `host` is an IPv6 reference in brackets, or runs to the first `:`, `;` or `?`; `port` is the digits after `:`.
 * - Parameters follow `;`, headers follow `?`.
 * The user is kept as written (not unescaped): it is a routing key, compared byte for byte.
 *
 * The scanner works on byte offsets and allocates nothing; the full parser slices strings from the same offsets.
 */
import { Buffer } from 'node:buffer';

const COLON = 58;
const SEMI = 59;
const AT = 64;
const QMARK = 63;
const LBRACKET = 91;
const RBRACKET = 93;
const SP = 32;

/** Offsets of the parts of one URI in a byte range; -1 for a part that is absent. Reused, never allocated per call. */
export interface SipUriSpans {
  /** End of the scheme (the index of its `:`). */
  schemeEnd: number;
  userStart: number;
  userEnd: number;
  passwordStart: number;
  passwordEnd: number;
  hostStart: number;
  hostEnd: number;
  portStart: number;
  portEnd: number;
  /** Index of the first `;` of the parameters. */
  paramsStart: number;
  /** Index of the `?` that starts the headers. */
  headersStart: number;
  /** End of the URI. */
  end: number;
}

export function newSipUriSpans(): SipUriSpans {
  return {
    schemeEnd: -1,
    userStart: -1,
    userEnd: -1,
    passwordStart: -1,
    passwordEnd: -1,
    hostStart: -1,
    hostEnd: -1,
    portStart: -1,
    portEnd: -1,
    paramsStart: -1,
    headersStart: -1,
    end: -1,
  };
}

function isAlpha(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * Scans the URI in bytes [s, e) into `out`. Returns false when it is not a URI by this grammar: no scheme, a
 * control character or space, an empty host, a port that is not 1–5 digits or over 65535, an unclosed `[`.
 * Any scheme is accepted here (the caller decides what to do with `tel:` or `http:`); the parts after the scheme are
 * only meaningful for `sip`/`sips`.
 */
export function scanSipUri(b: Uint8Array, s: number, e: number, out: SipUriSpans): boolean {
  out.userStart = out.userEnd = out.passwordStart = out.passwordEnd = -1;
  out.portStart = out.portEnd = out.paramsStart = out.headersStart = -1;
  out.end = e;
  // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
  let i = s;
  if (i >= e || !isAlpha(b[i]!)) return false;
  while (i < e && (isAlpha(b[i]!) || isDigit(b[i]!) || b[i] === 43 || b[i] === 45 || b[i] === 46)) i++;
  if (i >= e || b[i] !== COLON) return false;
  out.schemeEnd = i;
  const rest = i + 1;
  let at = -1;
  for (let j = rest; j < e; j++) {
    const c = b[j]!;
    if (c <= SP || c === 127) return false;
    if (c === AT && at < 0) at = j;
  }
  let h = rest;
  if (at >= 0) {
    let u = rest;
    while (u < at && b[u] !== COLON) u++;
    out.userStart = rest;
    out.userEnd = u;
    if (u < at) {
      out.passwordStart = u + 1;
      out.passwordEnd = at;
    }
    h = at + 1;
  }
  out.hostStart = h;
  if (h < e && b[h] === LBRACKET) {
    while (h < e && b[h] !== RBRACKET) h++;
    if (h >= e) return false;
    h++;
  } else {
    while (h < e && b[h] !== COLON && b[h] !== SEMI && b[h] !== QMARK) h++;
  }
  out.hostEnd = h;
  if (out.hostEnd === out.hostStart) return false;
  if (h < e && b[h] === COLON) {
    const ps = h + 1;
    let port = 0;
    h = ps;
    while (h < e && isDigit(b[h]!)) port = port * 10 + (b[h++]! - 48);
    if (h === ps || h - ps > 5 || port > 65535) return false;
    out.portStart = ps;
    out.portEnd = h;
  }
  if (h < e && b[h] === SEMI) {
    out.paramsStart = h;
    while (h < e && b[h] !== QMARK) h++;
  }
  if (h < e) {
    if (b[h] !== QMARK) return false;
    out.headersStart = h;
  }
  return true;
}

/** A parsed SIP URI. Absent parts are undefined; parameter names are lower-case, values as written. */
export interface SipUri {
  /** Lower-case, e.g. `sip`, `sips`, `tel`. */
  scheme: string;
  user: string | undefined;
  password: string | undefined;
  host: string;
  port: number | undefined;
  params: ReadonlyMap<string, string | undefined>;
  /** The raw header part after `?`, if any. */
  headers: string | undefined;
}

const spans = newSipUriSpans();

/**
 * Parses a URI by the grammar above. Returns undefined when it does not scan (see {@link scanSipUri}). The user part
 * equals what {@link extractSipKeys} reports as `conferenceId` for the same Request-URI.
 */
export function parseSipUri(uri: string): SipUri | undefined {
  const b = Buffer.from(uri, 'latin1');
  if (!scanSipUri(b, 0, b.length, spans)) return undefined;
  const str = (s: number, e: number) => (s < 0 ? undefined : b.toString('latin1', s, e));
  const params = new Map<string, string | undefined>();
  if (spans.paramsStart >= 0) {
    const pe = spans.headersStart >= 0 ? spans.headersStart : spans.end;
    for (const p of b.toString('latin1', spans.paramsStart + 1, pe).split(';')) {
      if (!p) continue;
      const eq = p.indexOf('=');
      if (eq < 0) params.set(p.toLowerCase(), undefined);
      else params.set(p.slice(0, eq).toLowerCase(), p.slice(eq + 1));
    }
  }
  return {
    scheme: b.toString('latin1', 0, spans.schemeEnd).toLowerCase(),
    user: str(spans.userStart, spans.userEnd),
    password: str(spans.passwordStart, spans.passwordEnd),
    host: b.toString('latin1', spans.hostStart, spans.hostEnd),
    port: spans.portStart < 0 ? undefined : Number(b.toString('latin1', spans.portStart, spans.portEnd)),
    params,
    headers: spans.headersStart < 0 ? undefined : b.toString('latin1', spans.headersStart + 1, spans.end),
  };
}

/** The routing key (conference) of a Request-URI: its user part, or undefined when it has none. */
export function conferenceOfUri(uri: string): string | undefined {
  return parseSipUri(uri)?.user || undefined;
}
