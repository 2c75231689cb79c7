/** The few answers the primary gives itself, statelessly, when no worker will: 400, 503, 513. */
import { buildResponse, parseSipMessage, serializeSipMessage, type SipRequest } from '../sip/message.js';

export const STATELESS_REPLY_DEFAULTS = {
  /** Retry-After (s) on the primary's 503: long enough for a worker to start or a drain to pass. */
  retryAfterS: 5,
} as const;

/**
 * The request to answer, if the bytes are readable enough and SIP allows an answer (a request with a Via, not an
 * ACK: never a response to a response or to an ACK).
 */
export function answerableRequest(bytes: Buffer, maxBytes: number): SipRequest | undefined {
  const head = bytes.length > maxBytes ? bytes.subarray(0, maxBytes) : bytes;
  const p = parseSipMessage(head, { maxBytes });
  const req = p.ok ? (p.message.kind === 'request' ? p.message : undefined) : p.partial;
  if (!req || req.method === 'ACK' || !req.headers.some((h) => h.name === 'via')) return undefined;
  return req;
}

/** The serialized stateless answer (503 carries Retry-After). */
export function statelessResponse(req: SipRequest, status: 400 | 503 | 513): Buffer {
  return serializeSipMessage(
    buildResponse(req, status, {
      headers:
        status === 503 ? [{ name: 'retry-after', value: String(STATELESS_REPLY_DEFAULTS.retryAfterS) }] : [],
    }),
  );
}
