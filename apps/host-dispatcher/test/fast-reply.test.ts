/** The overload path's 503 built from the request's bytes: the same answer as the parsing path, or a fallback. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fastStatelessResponse, statelessTag } from '../src/ingress/fast-reply.js';
import { answerableRequest, statelessResponse } from '../src/ingress/stateless-reply.js';
import { headerValue, headerValues, parseSipMessage, tagOf, type SipResponse } from '../src/sip/message.js';
import { invite } from './sip-fixtures.js';

const RA = 'Retry-After: 5\r\n';

function parseResponse(b: Buffer): SipResponse {
  const p = parseSipMessage(b, { maxBytes: 16384 });
  if (!p.ok || p.message.kind !== 'response') throw new Error(`not a response: ${b.toString('latin1')}`);
  return p.message;
}

/** The fast answer carries what the parsing path's answer carries (plus a To tag when the request had none). */
function expectSameAsSlow(req: Buffer): SipResponse {
  const fast = fastStatelessResponse(req, 16384, 503, RA);
  expect(fast, req.toString('latin1')).toBeDefined();
  const slow = parseResponse(statelessResponse(answerableRequest(req, 16384)!, 503));
  const f = parseResponse(fast!);
  expect(f.status).toBe(503);
  expect(headerValues(f.headers, 'via')).toEqual(headerValues(slow.headers, 'via'));
  for (const name of ['from', 'call-id', 'cseq', 'retry-after', 'content-length'])
    expect(headerValue(f.headers, name), name).toBe(headerValue(slow.headers, name));
  const slowTo = headerValue(slow.headers, 'to')!;
  const fastTo = headerValue(f.headers, 'to')!;
  if (tagOf(slowTo)) expect(fastTo).toBe(slowTo);
  else expect(fastTo.startsWith(slowTo + ';tag=sl')).toBe(true);
  return f;
}

describe('fastStatelessResponse', () => {
  it("answers SIPp's INVITE like the parsing path, with a To tag that is the same for every retransmission", () => {
    const req = invite({ callId: 'c1@h', branch: 'z9hG4bK-7' });
    const f = expectSameAsSlow(req);
    expect(tagOf(headerValue(f.headers, 'to'))).toBe(statelessTag('c1@h', 'z9hG4bK-7'));
    expect(
      fastStatelessResponse(req, 16384, 503, RA)!.equals(fastStatelessResponse(req, 16384, 503, RA)!),
    ).toBe(true);
  });

  it('keeps an existing To tag, compact header names, several Via lines and LF-only line ends', () => {
    expectSameAsSlow(invite({ toTag: 'tt9' }));
    const compact = Buffer.from(
      'INVITE sip:conf-1@h SIP/2.0\r\nv: SIP/2.0/UDP a:1;branch=z9hG4bK-a\r\nVia: SIP/2.0/UDP b:2;branch=z9hG4bK-b, SIP/2.0/UDP c:3;branch=z9hG4bK-c\r\n' +
        'f: <sip:a@h>;tag=1\r\nt: "x;y" <sip:conf-1@h;tag=uri-param>\r\ni: cid\r\nCSeq: 4 INVITE\r\nl: 0\r\n\r\n',
    );
    const f = expectSameAsSlow(compact);
    // the `tag` inside the URI's angle brackets is not the header's tag
    expect(tagOf(headerValue(f.headers, 'to'))).toBe(statelessTag('cid', 'z9hG4bK-a'));
    expectSameAsSlow(Buffer.from(invite({ callId: 'lf' }).toString('latin1').replaceAll('\r\n', '\n')));
  });

  it('leaves to the parser what it does not handle: folded lines, repeated or missing headers, no end of headers', () => {
    const plain = invite().toString('latin1');
    const cases = [
      plain.replace('Call-ID: call-1@127.0.0.1', 'Call-ID:\r\n call-1@127.0.0.1'),
      plain.replace('CSeq: 1 INVITE', 'CSeq: 1 INVITE\r\nCSeq: 2 INVITE'),
      plain.replace('To: <sip:conf-7@127.0.0.1:5060>\r\n', ''),
      plain.replace(/Via: [^\r]*\r\n/, ''),
      plain.slice(0, plain.indexOf('\r\n\r\n')),
    ];
    for (const c of cases) expect(fastStatelessResponse(Buffer.from(c), 16384, 503, RA), c).toBeUndefined();
    // nor past the size limit
    expect(fastStatelessResponse(invite(), 40, 503, RA)).toBeUndefined();
  });

  it('agrees with the parsing path on generated requests', () => {
    const token = fc.stringMatching(/^[A-Za-z0-9.\-_!%*+`'~]{1,12}$/);
    fc.assert(
      fc.property(
        token,
        token,
        fc.option(token, { nil: undefined }),
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.boolean(),
        (callId, branch, toTag, cseq, compact) => {
          let req = invite({ callId, branch: `z9hG4bK${branch}`, toTag, cseq }).toString('latin1');
          if (compact)
            req = req
              .replace('\r\nVia:', '\r\nv:')
              .replace('\r\nFrom:', '\r\nf:')
              .replace('\r\nTo:', '\r\nt:')
              .replace('\r\nCall-ID:', '\r\ni:');
          expectSameAsSlow(Buffer.from(req, 'latin1'));
        },
      ),
      { numRuns: 200 },
    );
  });
});
