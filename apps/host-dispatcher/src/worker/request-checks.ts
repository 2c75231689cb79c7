/**
 * What a UAS checks before it acts on a request (RFC 3261 §8.2), in the RFC's order, as one pure function: the
 * refusal to send, or nothing. The worker's SIP parser has already refused what RFC 4475 calls malformed (400/505).
 */
import { parseSipUri } from '@switchyard/affinity';
import { headerValue, headerValues, type SipHeader, type SipRequest } from '../sip/message.js';

/** Methods this UAS handles (RFC 3261 §8.2.1: Allow lists them on 405 and 501). */
export const ALLOWED_METHODS = [
  'INVITE',
  'ACK',
  'BYE',
  'CANCEL',
  'OPTIONS',
  'REGISTER',
  'INFO',
  'UPDATE',
  'NOTIFY',
  'PRACK',
] as const;

/** Methods registered for SIP that this UAS knows and does not allow: 405, not 501. */
const KNOWN_NOT_ALLOWED = new Set(['SUBSCRIBE', 'REFER', 'MESSAGE', 'PUBLISH']);

/** The only body this UAS reads and the only one it sends. */
export const SDP = 'application/sdp';

/** Option tags (Require) this UAS supports: none. */
export const SUPPORTED_EXTENSIONS: readonly string[] = [];

export interface Refusal {
  readonly status: 405 | 406 | 415 | 416 | 420 | 501;
  readonly headers: SipHeader[];
}

export function allowHeader(): SipHeader {
  return { name: 'allow', value: ALLOWED_METHODS.join(', ') };
}

const allowed = new Set<string>(ALLOWED_METHODS);

/**
 * The refusal for `req`, if any (never for ACK, which gets no response):
 * 501 (unknown method) or 405 (known, not handled), both with Allow (§8.2.1); 416 for a Request-URI scheme other
 * than sip/sips (§8.2.2.1); 420 with Unsupported for an unknown Require option tag (§8.2.2.3; not for CANCEL);
 * 415 with Accept / Accept-Encoding for a body it cannot read (§8.2.3); 406 when Accept excludes the SDP it would
 * send in its answer (§21.4.7).
 */
export function checkRequest(req: SipRequest): Refusal | undefined {
  if (req.method === 'ACK') return undefined;
  if (!allowed.has(req.method)) {
    return { status: KNOWN_NOT_ALLOWED.has(req.method) ? 405 : 501, headers: [allowHeader()] };
  }
  const scheme = parseSipUri(req.uri)?.scheme;
  if (scheme !== 'sip' && scheme !== 'sips') return { status: 416, headers: [] };
  if (req.method !== 'CANCEL') {
    const unsupported = optionTags(headerValues(req.headers, 'require')).filter(
      (t) => !SUPPORTED_EXTENSIONS.includes(t),
    );
    if (unsupported.length) {
      return { status: 420, headers: [{ name: 'unsupported', value: unsupported.join(', ') }] };
    }
  }
  if (req.body.length > 0) {
    const type = mediaType(headerValue(req.headers, 'content-type'));
    if (type !== SDP) return { status: 415, headers: [{ name: 'accept', value: SDP }] };
    const encodings = optionTags(headerValues(req.headers, 'content-encoding')).filter(
      (e) => e !== 'identity',
    );
    if (encodings.length) return { status: 415, headers: [{ name: 'accept-encoding', value: 'identity' }] };
  }
  // only an INVITE's answer carries SDP
  if (req.method === 'INVITE' && !acceptsSdp(req)) {
    return { status: 406, headers: [{ name: 'accept', value: SDP }] };
  }
  return undefined;
}

/** Lower-case comma-separated tokens of every value of a header. */
function optionTags(values: string[]): string[] {
  return values
    .flatMap((v) => v.split(','))
    .map((t) => t.trim().toLowerCase())
    .filter(Boolean);
}

/** `type/subtype` of a Content-Type, lower-case, without parameters. */
function mediaType(value: string | undefined): string | undefined {
  return value?.split(';')[0]?.trim().toLowerCase();
}

/** No Accept means application/sdp (RFC 3261 §20.1); else one of its ranges must cover it. */
function acceptsSdp(req: SipRequest): boolean {
  const values = headerValues(req.headers, 'accept');
  if (values.length === 0) return true;
  const ranges = optionTags(values).map((r) => r.split(';')[0]!.trim());
  // an empty Accept header: the peer accepts no body, which an answer without one would satisfy; we always send SDP
  return ranges.some((r) => r === SDP || r === 'application/*' || r === '*/*');
}
