/**
 * Full SIP message parsing and serialization (RFC 3261 §7, §20) for the worker's UAS. The primary never uses this on
 * its hot path: it only scans keys with `extractSipKeys` from @switchyard/affinity. Request-URIs are read by the same
 * grammar as that scanner (`parseSipUri`).
 */
import { parseSipUri } from '@switchyard/affinity';

/** Why a message could not be parsed. */
export type SipParseError =
  | 'empty'
  | 'too-large'
  | 'no-header-end'
  | 'bad-start-line'
  | 'bad-header'
  | 'bad-content-length'
  | 'truncated-body'
  | 'missing-header'
  | 'cseq-mismatch'
  /** The Request-URI does not scan by the one URI grammar (@switchyard/affinity `scanSipUri`). */
  | 'bad-request-uri';

export interface SipHeader {
  /** Canonical lower-case long name (`i` becomes `call-id`). */
  readonly name: string;
  readonly value: string;
}

interface SipMessageBase {
  readonly headers: SipHeader[];
  readonly body: Buffer;
}
export interface SipRequest extends SipMessageBase {
  readonly kind: 'request';
  readonly method: string;
  readonly uri: string;
}
export interface SipResponse extends SipMessageBase {
  readonly kind: 'response';
  readonly status: number;
  readonly reason: string;
}
export type SipMessage = SipRequest | SipResponse;

export type ParseResult =
  | { ok: true; message: SipMessage; /** bytes consumed (header + body) */ length: number }
  | {
      ok: false;
      error: SipParseError;
      /** a best-effort request head, to answer 400 when SIP allows it */ partial?: SipRequest;
    };

const COMPACT: Readonly<Record<string, string>> = {
  i: 'call-id',
  f: 'from',
  t: 'to',
  v: 'via',
  m: 'contact',
  l: 'content-length',
  c: 'content-type',
  k: 'supported',
  s: 'subject',
  e: 'content-encoding',
  o: 'event',
  r: 'refer-to',
  u: 'allow-events',
};

/** How header names are written out (only the ones we emit or copy often; others are title-cased). */
const DISPLAY: Readonly<Record<string, string>> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  via: 'Via',
  from: 'From',
  to: 'To',
  contact: 'Contact',
  'content-length': 'Content-Length',
  'content-type': 'Content-Type',
  'max-forwards': 'Max-Forwards',
  'www-authenticate': 'WWW-Authenticate',
  'record-route': 'Record-Route',
};

const TOKEN = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
const MANDATORY = ['via', 'from', 'to', 'call-id', 'cseq'] as const;

export function displayName(name: string): string {
  return DISPLAY[name] ?? name.replace(/(^|-)([a-z])/g, (_m, d: string, c: string) => d + c.toUpperCase());
}

/** Index of the blank line ending the header block, and the separator length; -1 when absent. */
export function findHeaderEnd(
  buf: Uint8Array,
  from = 0,
  limit = buf.length,
): { index: number; sepLength: number } {
  for (let i = from; i < limit - 1; i++) {
    if (buf[i] === 10) {
      if (buf[i + 1] === 10) return { index: i, sepLength: 2 };
      if (buf[i + 1] === 13 && buf[i + 2] === 10) return { index: i, sepLength: 3 };
    }
  }
  return { index: -1, sepLength: 0 };
}

/**
 * Parses one SIP message from `buf`. With `stream` set (TCP), Content-Length is mandatory and bytes after the
 * message are left for the next one; otherwise (UDP) a missing Content-Length means "the rest of the datagram".
 * Never throws.
 */
export function parseSipMessage(
  buf: Buffer,
  init: { stream?: boolean; maxBytes?: number } = {},
): ParseResult {
  const maxBytes = init.maxBytes ?? 65535;
  // RFC 3261 §7.5: tolerate leading CRLFs (keep-alives)
  let start = 0;
  while (start < buf.length && (buf[start] === 13 || buf[start] === 10)) start++;
  if (start >= buf.length) return { ok: false, error: 'empty' };
  // a datagram is judged whole; on a stream only the message counts
  const oversized = !init.stream && buf.length > maxBytes;
  const end = findHeaderEnd(buf, start, Math.min(buf.length, start + maxBytes));
  if (end.index < 0)
    return { ok: false, error: buf.length - start > maxBytes ? 'too-large' : 'no-header-end' };
  const head = buf.toString('utf8', start, end.index).replace(/\r\n/g, '\n');
  const lines = head.split('\n');
  const first = lines[0] ?? '';
  const startLine = parseStartLine(first);
  if (!startLine) return { ok: false, error: 'bad-start-line' };
  const headers: SipHeader[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.length === 0) continue;
    if ((line[0] === ' ' || line[0] === '\t') && headers.length > 0) {
      // folded continuation line (RFC 3261 §7.3.1)
      const last = headers.pop()!;
      headers.push({ name: last.name, value: `${last.value} ${line.trim()}` });
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) return fail('bad-header', startLine, headers);
    const rawName = line.slice(0, colon).trim();
    if (!TOKEN.test(rawName)) return fail('bad-header', startLine, headers);
    const lower = rawName.toLowerCase();
    headers.push({ name: COMPACT[lower] ?? lower, value: line.slice(colon + 1).trim() });
  }
  // the same URI grammar as the primary's scanner: what it refuses, the worker refuses
  if (startLine.kind === 'request' && !parseSipUri(startLine.uri))
    return fail('bad-request-uri', startLine, headers);
  const bodyStart = end.index + end.sepLength;
  const clHeader = headers.find((h) => h.name === 'content-length');
  let bodyLength: number;
  if (clHeader) {
    if (!/^\d{1,9}$/.test(clHeader.value)) return fail('bad-content-length', startLine, headers);
    bodyLength = Number(clHeader.value);
  } else if (init.stream) {
    return fail('bad-content-length', startLine, headers);
  } else {
    bodyLength = buf.length - bodyStart;
  }
  if (oversized || bodyStart - start + bodyLength > maxBytes) return fail('too-large', startLine, headers);
  if (bodyStart + bodyLength > buf.length) return fail('truncated-body', startLine, headers);
  for (const name of MANDATORY) {
    if (!headers.some((h) => h.name === name)) return fail('missing-header', startLine, headers);
  }
  const body = buf.subarray(bodyStart, bodyStart + bodyLength);
  let message: SipMessage;
  if (startLine.kind === 'request') {
    const cseq = parseCSeq(headerValue(headers, 'cseq'));
    if (
      !cseq ||
      (cseq.method !== startLine.method && !(startLine.method === 'ACK' && cseq.method === 'ACK'))
    ) {
      return fail('cseq-mismatch', startLine, headers);
    }
    message = { kind: 'request', method: startLine.method, uri: startLine.uri, headers, body };
  } else {
    if (!parseCSeq(headerValue(headers, 'cseq'))) return fail('cseq-mismatch', startLine, headers);
    message = { kind: 'response', status: startLine.status, reason: startLine.reason, headers, body };
  }
  return { ok: true, message, length: bodyStart + bodyLength };
}

type StartLine =
  { kind: 'request'; method: string; uri: string } | { kind: 'response'; status: number; reason: string };

function parseStartLine(line: string): StartLine | undefined {
  if (line.startsWith('SIP/2.0 ')) {
    const m = /^SIP\/2\.0 ([1-6]\d\d) ?(.*)$/.exec(line);
    if (!m) return undefined;
    return { kind: 'response', status: Number(m[1]), reason: m[2] ?? '' };
  }
  const m = /^([A-Za-z0-9\-.!%*_+`'~]+) (\S+) SIP\/2\.0$/.exec(line);
  if (!m) return undefined;
  return { kind: 'request', method: m[1]!, uri: m[2]! };
}

function fail(error: SipParseError, startLine: StartLine, headers: SipHeader[]): ParseResult {
  if (startLine.kind !== 'request') return { ok: false, error };
  return {
    ok: false,
    error,
    partial: {
      kind: 'request',
      method: startLine.method,
      uri: startLine.uri,
      headers,
      body: Buffer.alloc(0),
    },
  };
}

export function headerValue(headers: readonly SipHeader[], name: string): string | undefined {
  for (const h of headers) if (h.name === name) return h.value;
  return undefined;
}

export function headerValues(headers: readonly SipHeader[], name: string): string[] {
  const out: string[] = [];
  for (const h of headers) if (h.name === name) out.push(h.value);
  return out;
}

export function parseCSeq(value: string | undefined): { seq: number; method: string } | undefined {
  if (!value) return undefined;
  const m = /^(\d{1,10})\s+([A-Za-z0-9\-.!%*_+`'~]+)$/.exec(value.trim());
  if (!m) return undefined;
  const seq = Number(m[1]);
  if (seq > 2 ** 31 - 1) return undefined;
  return { seq, method: m[2]! };
}

/** The `tag` parameter of a From/To value. */
export function tagOf(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const gt = value.lastIndexOf('>');
  const params = gt >= 0 ? value.slice(gt + 1) : value;
  const m = /;\s*tag=([^;\s,]+)/i.exec(params);
  return m?.[1];
}

/** The first Via value (a Via header may carry several, comma-separated). */
export function topVia(headers: readonly SipHeader[]): string | undefined {
  const v = headerValue(headers, 'via');
  if (v === undefined) return undefined;
  const comma = v.indexOf(',');
  return (comma >= 0 ? v.slice(0, comma) : v).trim();
}

export function viaBranch(via: string | undefined): string | undefined {
  if (!via) return undefined;
  return /;\s*branch=([^;\s,]+)/i.exec(via)?.[1];
}

/** Serializes a message; Content-Length is always written from the body. */
export function serializeSipMessage(msg: SipMessage): Buffer {
  const startLine =
    msg.kind === 'request' ? `${msg.method} ${msg.uri} SIP/2.0` : `SIP/2.0 ${msg.status} ${msg.reason}`;
  let head = startLine + '\r\n';
  for (const h of msg.headers) {
    if (h.name === 'content-length') continue;
    head += `${displayName(h.name)}: ${h.value}\r\n`;
  }
  head += `Content-Length: ${msg.body.length}\r\n\r\n`;
  const headBuf = Buffer.from(head, 'utf8');
  return msg.body.length ? Buffer.concat([headBuf, msg.body]) : headBuf;
}

const REASONS: Readonly<Record<number, string>> = {
  100: 'Trying',
  180: 'Ringing',
  200: 'OK',
  400: 'Bad Request',
  405: 'Method Not Allowed',
  481: 'Call/Transaction Does Not Exist',
  487: 'Request Terminated',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  513: 'Message Too Large',
};

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? 'Unknown';
}

/**
 * A response to `req` (RFC 3261 §8.2.6): Via, From, Call-ID and CSeq copied, To copied with `toTag` added when it has
 * none. `viaReceived` fills the rport/received parameters of the top Via (RFC 3581).
 */
export function buildResponse(
  req: SipRequest,
  status: number,
  init: {
    toTag?: string;
    headers?: SipHeader[];
    body?: Buffer;
    reason?: string;
    viaReceived?: { address: string; port: number };
  } = {},
): SipResponse {
  const headers: SipHeader[] = [];
  let firstVia = true;
  for (const h of req.headers) {
    if (h.name === 'via') {
      headers.push({
        name: 'via',
        value: firstVia && init.viaReceived ? fillReceived(h.value, init.viaReceived) : h.value,
      });
      firstVia = false;
    }
  }
  for (const name of ['from', 'to', 'call-id', 'cseq'] as const) {
    const v = headerValue(req.headers, name);
    if (v === undefined) continue;
    if (name === 'to' && init.toTag && status !== 100 && !tagOf(v))
      headers.push({ name, value: `${v};tag=${init.toTag}` });
    else headers.push({ name, value: v });
  }
  if (init.headers) headers.push(...init.headers);
  return {
    kind: 'response',
    status,
    reason: init.reason ?? reasonPhrase(status),
    headers,
    body: init.body ?? Buffer.alloc(0),
  };
}

function fillReceived(viaValue: string, from: { address: string; port: number }): string {
  const comma = viaValue.indexOf(',');
  let top = comma >= 0 ? viaValue.slice(0, comma) : viaValue;
  const rest = comma >= 0 ? viaValue.slice(comma) : '';
  if (/;\s*rport(?=;|$|\s)/i.test(top)) top = top.replace(/;\s*rport(?=;|$|\s)/i, `;rport=${from.port}`);
  const sentBy = /^SIP\/2\.0\/[A-Za-z]+\s+\[?([^\]:;\s]+)/i.exec(top)?.[1];
  if (sentBy !== from.address && !/;\s*received=/i.test(top)) top += `;received=${from.address}`;
  return top + rest;
}
