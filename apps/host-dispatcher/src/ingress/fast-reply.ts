/**
 * The overload path's stateless 503, built from the request's bytes without parsing it into a message: past capacity
 * the primary answers every refused INVITE (and each of its retransmissions), so this answer must cost about what the
 * key scan costs (about 1 µs here), not a full parse and serialization (about 10 µs, `stateless-reply.ts`).
 *
 * It copies the request's Via lines (all, in order) and its first From, To, Call-ID and CSeq lines verbatim (compact
 * forms stay compact: RFC 3261 §7.3.3 allows them in responses too), adds a To tag when the request has none
 * (§8.2.6.2; derived from the Call-ID and the top branch, so every retransmission gets the same answer), then
 * Retry-After and Content-Length. Anything unusual (a folded header line, a repeated single-valued header, a missing
 * one, no blank line within the limit) returns undefined, and the caller falls back to the parsing path, which
 * decides whether and how to answer.
 */

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;

/** Header kinds copied into the answer; indexes into {@link FastReplyScan.lines}. */
const VIA = 0;
const FROM = 1;
const TO = 2;
const CALL_ID = 3;
const CSEQ = 4;

/** Lower-cased header names (full and compact, RFC 3261 §7.3.3) → kind. */
const NAMES = new Map<string, number>([
  ['via', VIA],
  ['v', VIA],
  ['from', FROM],
  ['f', FROM],
  ['to', TO],
  ['t', TO],
  ['call-id', CALL_ID],
  ['i', CALL_ID],
  ['cseq', CSEQ],
]);

/** First letters (lower-cased) of the names above: any other line is skipped without making a string. */
const FIRST = new Set([...NAMES.keys()].map((n) => n.charCodeAt(0)));

const REASONS: Record<number, string> = { 503: 'Service Unavailable' };
const CRLF = Buffer.from('\r\n', 'latin1');

/**
 * `SIP/2.0 <status> …` answering the request in `msg` (a request the key scan accepted), or undefined when the
 * bytes need the full parser. `extraHeaders`: complete header lines (`Name: value\r\n`) added before Content-Length.
 */
export function fastStatelessResponse(
  msg: Buffer,
  maxBytes: number,
  status: 503,
  extraHeaders: string,
): Buffer | undefined {
  const end = Math.min(msg.length, maxBytes);
  // request line
  const i = msg.indexOf(LF);
  if (i < 0 || i >= end) return undefined;
  let pos = i + 1;
  // [start, end) of each copied line: the Via lines, then From, To, Call-ID, CSeq
  const vias: number[] = [];
  const single = [-1, -1, -1, -1, -1, -1, -1, -1, -1, -1];
  let toColon = 0;
  let firstViaColon = 0;
  let callIdColon = 0;
  for (;;) {
    if (pos >= end) return undefined;
    const lineEnd = msg.indexOf(LF, pos);
    if (lineEnd < 0 || lineEnd >= end) return undefined;
    const contentEnd = lineEnd > pos && msg[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
    if (contentEnd === pos) break; // the blank line: end of the headers
    const first = msg[pos]!;
    if (first === SP || first === HTAB) return undefined; // folded line: the parser handles those
    if (FIRST.has(first | 0x20)) {
      const colon = msg.indexOf(COLON, pos);
      if (colon < 0 || colon > contentEnd) return undefined;
      let nameEnd = colon;
      while (nameEnd > pos && (msg[nameEnd - 1] === SP || msg[nameEnd - 1] === HTAB)) nameEnd--;
      // the names that matter are short: no string for long ones
      const kind =
        nameEnd - pos <= 7 ? NAMES.get(msg.toString('latin1', pos, nameEnd).toLowerCase()) : undefined;
      if (kind === VIA) {
        if (vias.length === 0) firstViaColon = colon;
        vias.push(pos, contentEnd);
      } else if (kind !== undefined) {
        if (single[2 * kind] !== -1) return undefined; // two of a single-valued header: the parser decides
        single[2 * kind] = pos;
        single[2 * kind + 1] = contentEnd;
        if (kind === TO) toColon = colon;
        else if (kind === CALL_ID) callIdColon = colon;
      }
    }
    pos = lineEnd + 1;
  }
  if (vias.length === 0) return undefined;
  for (let k = FROM; k <= CSEQ; k++) if (single[2 * k] === -1) return undefined;
  const toEnd = single[2 * TO + 1]!;
  const tag =
    param(msg, toColon + 1, toEnd, 'tag=') === ''
      ? `;tag=${statelessTag(
          msg.toString('latin1', callIdColon + 1, single[2 * CALL_ID + 1]).trim(),
          param(msg, firstViaColon + 1, vias[1]!, 'branch='),
        )}`
      : '';
  const head = `SIP/2.0 ${status} ${REASONS[status]}\r\n`;
  const tail = `${tag}\r\n`;
  let size = head.length + extraHeaders.length + 'Content-Length: 0\r\n\r\n'.length + tag.length;
  for (let v = 0; v < vias.length; v += 2) size += vias[v + 1]! - vias[v]! + 2;
  for (let k = FROM; k <= CSEQ; k++) size += single[2 * k + 1]! - single[2 * k]! + 2;
  const out = Buffer.allocUnsafe(size);
  let o = out.write(head, 0, 'latin1');
  for (let v = 0; v < vias.length; v += 2) {
    o += msg.copy(out, o, vias[v]!, vias[v + 1]!);
    o += CRLF.copy(out, o);
  }
  for (let k = FROM; k <= CSEQ; k++) {
    o += msg.copy(out, o, single[2 * k]!, single[2 * k + 1]!);
    o += k === TO ? out.write(tail, o, 'latin1') : CRLF.copy(out, o);
  }
  o += out.write(extraHeaders, o, 'latin1');
  out.write('Content-Length: 0\r\n\r\n', o, 'latin1');
  return out;
}

/**
 * The value of header parameter `name` (e.g. `tag=`) of one header line, or ''. Parameters inside `<…>` belong to the
 * URI, and a quoted display name may hold `;`: the search starts after the last `>`.
 */
function param(msg: Buffer, from: number, to: number, name: string): string {
  const line = msg.toString('latin1', from, to);
  const lower = line.toLowerCase();
  let at = lower.indexOf(';', lower.lastIndexOf('>') + 1);
  while (at >= 0) {
    let p = at + 1;
    while (line[p] === ' ' || line[p] === '\t') p++;
    if (lower.startsWith(name, p)) {
      const start = p + name.length;
      let stop = start;
      while (stop < line.length && !';,> \t'.includes(line[stop]!)) stop++;
      return line.slice(start, stop);
    }
    at = lower.indexOf(';', at + 1);
  }
  return '';
}

/** A To tag that is the same for every retransmission of one request: FNV-1a of Call-ID and branch, in hex. */
export function statelessTag(callId: string, branch: string): string {
  let h = 0x811c9dc5;
  const s = callId + '\0' + branch;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return 'sl' + (h >>> 0).toString(16).padStart(8, '0');
}
