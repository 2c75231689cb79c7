/**
 * The worker's UAS against the cases of RFC 4475 (SIP torture test messages), each written here with the defect
 * the RFC names (§ and test name in the title): what the RFC calls invalid is refused with the status it asks for
 * and never answered 2xx; responses are never answered; the valid oddities are served.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '@switchyard/core';
import { SipUas, type Peer } from '../src/index.js';

const peer: Peer = { transport: 'udp', address: '192.0.2.10', port: 5060, local: 0 };

interface Sent {
  status: number;
  headers: { name: string; value: string }[];
}

/**
 * A response read leniently: a refusal copies the request's Via/From/To as they came, defects included, so the
 * strict parser would (rightly) refuse it.
 */
function readResponse(bytes: Buffer): Sent {
  const [start, ...lines] = bytes.toString('latin1').split('\r\n\r\n')[0]!.split('\r\n');
  const m = /^SIP\/2\.0 (\d{3}) /.exec(start ?? '');
  if (!m) throw new Error(`the UAS sent something that is not a response: ${start}`);
  return {
    status: Number(m[1]),
    headers: lines.map((l) => ({
      name: l.slice(0, l.indexOf(':')).trim().toLowerCase(),
      value: l.slice(l.indexOf(':') + 1).trim(),
    })),
  };
}

function uas() {
  const sent: Sent[] = [];
  const u = new SipUas(
    {
      clock: new ManualClock(),
      send: (bytes) => sent.push(readResponse(bytes)),
      localAddress: () => ({ address: '192.0.2.1', port: 5060 }),
      events: { dialogOpened: () => undefined, dialogClosed: () => undefined },
    },
    {},
  );
  return { u, sent };
}

const SDP_BODY =
  'v=0\r\no=x 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';

/** A request from lines; `Content-Length` is computed unless the lines set one. */
function msg(lines: string[], body = ''): Buffer {
  const head = lines.some((l) => /^(content-length|l)\s*:/i.test(l))
    ? lines
    : [...lines, `Content-Length: ${Buffer.byteLength(body)}`];
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${body}`, 'latin1');
}

const base = (method: string, id: string, extra: string[] = [], uri = 'sip:conf-1@example.com') => [
  `${method} ${uri} SIP/2.0`,
  'Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK' + id,
  'To: <sip:conf-1@example.com>',
  'From: <sip:caller@example.net>;tag=' + id,
  'Call-ID: ' + id + '@192.0.2.10',
  `CSeq: 1 ${method}`,
  'Max-Forwards: 70',
  ...extra,
];

const cases: [string, Buffer, number][] = [
  [
    '§3.1.2.1 badinv01: extraneous header field separators',
    msg(
      [
        'INVITE sip:conf-1@example.com SIP/2.0',
        'Via: SIP/2.0/UDP 192.0.2.10;;,;,,',
        'To: <sip:conf-1@example.com>',
        'From: <sip:caller@example.net>;;tag=b1',
        'Call-ID: b1@192.0.2.10',
        'CSeq: 1 INVITE',
        'Contact: "Caller" <sip:caller@192.0.2.10>;;;;',
        'Content-Type: application/sdp',
      ],
      SDP_BODY,
    ),
    400,
  ],
  [
    '§3.1.2.2 clerr: Content-Length larger than the message',
    msg([...base('INVITE', 'b2', ['Content-Type: application/sdp']), 'Content-Length: 9999'], SDP_BODY),
    400,
  ],
  [
    '§3.1.2.3 ncl: negative Content-Length',
    msg([...base('INVITE', 'b3', ['Content-Type: application/sdp']), 'Content-Length: -999'], SDP_BODY),
    400,
  ],
  [
    '§3.1.2.4 scalar02: overlarge scalars (CSeq, Max-Forwards, Expires)',
    msg([
      'REGISTER sip:example.com SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKb4',
      'To: <sip:caller@example.com>',
      'From: <sip:caller@example.com>;tag=b4',
      'Call-ID: b4@192.0.2.10',
      'CSeq: 36893488147419103232 REGISTER',
      'Max-Forwards: 300',
      'Expires: 100000000000000000000000000000',
      'Contact: <sip:caller@192.0.2.10>',
    ]),
    400,
  ],
  [
    '§3.1.2.6 quotbal: unterminated quoted display name',
    msg(
      base('INVITE', 'b6', ['Content-Type: application/sdp']).map((l) =>
        l.startsWith('To:') ? 'To: "Mr. Conference <sip:conf-1@example.com>' : l,
      ),
      SDP_BODY,
    ),
    400,
  ],
  [
    '§3.1.2.7 ltgtruri: Request-URI in angle brackets',
    msg(base('INVITE', 'b7', ['Content-Type: application/sdp'], '<sip:conf-1@example.com>'), SDP_BODY),
    400,
  ],
  [
    '§3.1.2.8 lwsruri: whitespace inside the Request-URI',
    msg(base('OPTIONS', 'b8', [], 'sip:conf-1@example.com; lr')),
    400,
  ],
  [
    '§3.1.2.9 lwsstart: several spaces between request-line elements',
    msg(base('OPTIONS', 'b9').map((l, i) => (i === 0 ? 'OPTIONS  sip:conf-1@example.com  SIP/2.0' : l))),
    400,
  ],
  [
    '§3.1.2.10 trws: space at the end of the request line',
    msg(base('OPTIONS', 'b10').map((l, i) => (i === 0 ? `${l} ` : l))),
    400,
  ],
  [
    '§3.1.2.16 badvers: unknown protocol version',
    msg(base('OPTIONS', 'b16').map((l, i) => (i === 0 ? 'OPTIONS sip:conf-1@example.com SIP/7.0' : l))),
    505,
  ],
  [
    '§3.1.2.17 mismatch01: start line and CSeq method differ',
    msg(base('OPTIONS', 'b17').map((l) => (l.startsWith('CSeq') ? 'CSeq: 8 INVITE' : l))),
    400,
  ],
  [
    '§3.1.2.18 mismatch02: unknown method, CSeq method differs',
    msg(base('NEWMETHOD', 'b18').map((l) => (l.startsWith('CSeq') ? 'CSeq: 8 INVITE' : l))),
    400,
  ],
  [
    '§3.3.1 insuf: mandatory headers missing',
    msg(
      base('INVITE', 'c1', ['Content-Type: application/sdp']).filter((l) => !/^(From|Call-ID):/.test(l)),
      SDP_BODY,
    ),
    400,
  ],
  [
    '§3.3.2 unkscm: Request-URI with an unknown scheme',
    msg(base('OPTIONS', 'c2', [], 'nobodyknows:opaque')),
    416,
  ],
  [
    '§3.3.3 novelsc: Request-URI with a known, atypical scheme',
    msg(base('OPTIONS', 'c3', [], 'soap.beep://192.0.2.103:3002')),
    416,
  ],
  [
    '§3.3.5 bext01: Require of an unknown extension',
    msg(base('OPTIONS', 'c5', ['Require: nothingweknow, other'])),
    420,
  ],
  [
    '§3.3.6 invut: unknown Content-Type',
    msg(base('INVITE', 'c6', ['Content-Type: application/unknownformat']), 'some opaque body\r\n'),
    415,
  ],
  [
    '§3.3.8 multi01: several values in single-valued headers',
    msg(
      [
        ...base('INVITE', 'c8', ['Content-Type: application/sdp']),
        'To: <sip:other@example.net>',
        'CSeq: 59 INVITE',
      ],
      SDP_BODY,
    ),
    400,
  ],
  [
    '§3.3.9 mcl01: two Content-Length headers',
    msg(
      [...base('OPTIONS', 'c9', ['Content-Type: text/plain']), 'Content-Length: 13', 'Content-Length: 5'],
      'no way to know',
    ),
    400,
  ],
  [
    '§3.3.15 sdp01: Accept excludes the SDP the answer would carry',
    msg(base('INVITE', 'c15', ['Accept: text/nobodyknowsthis', 'Content-Type: application/sdp']), SDP_BODY),
    406,
  ],
  ['RFC 3261 §8.2.1: a method this UAS does not know', msg(base('NEWMETHOD', 'm1')), 501],
  ['RFC 3261 §8.2.1: a method it knows and does not allow', msg(base('SUBSCRIBE', 'm2')), 405],
];

describe('RFC 4475 torture messages', () => {
  it.each(cases)('%s → %s, never 2xx', (_name, bytes, status) => {
    const { u, sent } = uas();
    u.receive(bytes, peer);
    expect(sent.map((m) => m.status)).toEqual([status]);
    if (status === 405 || status === 501) expect(sent[0]!.headers.some((h) => h.name === 'allow')).toBe(true);
    if (status === 420)
      expect(sent[0]!.headers.find((h) => h.name === 'unsupported')?.value).toBe('nothingweknow, other');
    if (status === 415 || status === 406)
      expect(sent[0]!.headers.find((h) => h.name === 'accept')?.value).toBe('application/sdp');
  });

  it.each([
    [
      '§3.1.2.5 scalarlg: response with overlarge scalars',
      'SIP/2.0 503 Service Unavailable\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKr1\r\nTo: <sip:a@example.com>;tag=1\r\nFrom: <sip:b@example.net>;tag=2\r\nCall-ID: r1\r\nCSeq: 9292394834772304023312 OPTIONS\r\nRetry-After: 949302838503028349304023988\r\nContent-Length: 0\r\n\r\n',
    ],
    [
      '§3.1.2.19 bigcode: response code over 699',
      'SIP/2.0 4294967301 better not break the receiver\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKr2\r\nCall-ID: r2\r\nCSeq: 1 INVITE\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.net>;tag=2\r\nContent-Length: 0\r\n\r\n',
    ],
    [
      'a well-formed 200 OK',
      'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKr3\r\nCall-ID: r3\r\nCSeq: 1 OPTIONS\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.net>;tag=2\r\nContent-Length: 0\r\n\r\n',
    ],
  ])('never answers a response: %s', (_name, text) => {
    const { u, sent } = uas();
    u.receive(Buffer.from(text, 'utf8'), peer);
    expect(sent).toEqual([]);
  });

  it.each([
    [
      '§3.1.1.x: compact headers, folding, unknown headers',
      msg([
        'OPTIONS sip:conf-1@example.com SIP/2.0',
        'v: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKv1',
        't: <sip:conf-1@example.com>',
        'f: "caller \\"quoted\\"" <sip:caller@example.net>;tag=v1',
        'i: v1@192.0.2.10',
        'CSeq: 1',
        ' OPTIONS',
        'Max-Forwards: 70',
        'X-Unknown-Header: anything ;; at all',
      ]),
      200,
    ],
    [
      '§3.3.4 unksm2: unknown URI schemes in To/From/Contact',
      msg([
        'REGISTER sip:example.com SIP/2.0',
        'Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKv2',
        'To: isbn:2983792873',
        'From: <http://www.example.com>;tag=v2',
        'Call-ID: v2@192.0.2.10',
        'CSeq: 1 REGISTER',
        'Contact: <name:John_Smith>',
        'Max-Forwards: 70',
      ]),
      200,
    ],
    [
      '§3.3.11 zeromf: OPTIONS with Max-Forwards 0 addressed to us',
      msg(base('OPTIONS', 'v3').map((l) => (l.startsWith('Max-Forwards') ? 'Max-Forwards: 0' : l))),
      200,
    ],
    [
      '§3.4.1 inv2543: an RFC 2543 INVITE (no branch)',
      msg(
        [
          'INVITE sip:conf-1@example.com SIP/2.0',
          'Via: SIP/2.0/UDP 192.0.2.10',
          'From: <sip:caller@example.net>',
          'To: sip:conf-1@example.com',
          'Call-ID: v4@192.0.2.10',
          'CSeq: 1 INVITE',
          'Content-Type: application/sdp',
        ],
        SDP_BODY,
      ),
      200,
    ],
  ])('serves a valid oddity: %s → %s', (_name, bytes, status) => {
    const { u, sent } = uas();
    u.receive(bytes, peer);
    expect(sent.at(-1)?.status).toBe(status);
  });
});
