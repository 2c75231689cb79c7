/** One SIP URI grammar: the fast scanner and the full parser agree on every generated URI. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { conferenceOfUri, extractSipKeys, parseSipUri } from '../src/index.js';

const request = (uri: string) =>
  Buffer.from(`INVITE ${uri} SIP/2.0\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\r\n`);

const scanned = (uri: string) => {
  const r = extractSipKeys(request(uri));
  return r.ok ? { conferenceId: r.keys.conferenceId } : { reason: r.reason };
};

describe('parseSipUri', () => {
  it.each([
    // uri, user, password, host, port
    ['sip:conf-7@pop.example', 'conf-7', undefined, 'pop.example', undefined],
    ['sip:127.0.0.1:5060', undefined, undefined, '127.0.0.1', 5060],
    ['sip:c:pw@h', 'c', 'pw', 'h', undefined],
    ['sip:c;user=phone@h', 'c;user=phone', undefined, 'h', undefined],
    ['sips:a%40b@[::1]:5061;transport=tcp?subject=x', 'a%40b', undefined, '[::1]', 5061],
    ['sip:@h', '', undefined, 'h', undefined],
    ['tel:+1-201-555-0123', undefined, undefined, '+1-201-555-0123', undefined],
  ])('%s: user %s, password %s, host %s, port %s', (uri, user, password, host, port) => {
    const u = parseSipUri(uri);
    expect(u).toMatchObject({ user, password, host, port });
    // the scanner reports the same conference, and a URI without a user part has none
    expect(scanned(uri)).toEqual({ conferenceId: user || undefined });
    expect(conferenceOfUri(uri)).toBe(user || undefined);
  });

  it.each(['<sip:a@h>', 'sip:', 'sip:a@', 'sip:h:99999', 'sip:h:', 'sip:[::1', '1sip:h', 'sip:a b@h'])(
    'refuses %s, as the scanner does',
    (uri) => {
      expect(parseSipUri(uri)).toBeUndefined();
      if (!uri.includes(' ')) expect(scanned(uri)).toEqual({ reason: 'bad-start-line' });
    },
  );

  it('reads parameters and headers', () => {
    const u = parseSipUri('sip:alice@atlanta.com;maddr=239.255.255.1;ttl=15;lr?Subject=x&Priority=urgent');
    expect([...u!.params]).toEqual([
      ['maddr', '239.255.255.1'],
      ['ttl', '15'],
      ['lr', undefined],
    ]);
    expect(u!.headers).toBe('Subject=x&Priority=urgent');
  });
});

// RFC 3261 §25.1 character classes
const unreserved = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()";
const userExtra = '&=+$,;?/';
const passwordExtra = '&=+$,';
const chars = (set: string, min = 1, max = 12) =>
  fc
    .array(fc.oneof(fc.constantFrom(...set.split('')), fc.constantFrom('%40', '%3A', '%20')), {
      minLength: min,
      maxLength: max,
    })
    .map((a) => a.join(''));
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/);
const host = fc.oneof(
  fc.array(label, { minLength: 1, maxLength: 3 }).map((l) => l.join('.')),
  fc.ipV4(),
  fc.ipV6().map((a) => `[${a}]`),
);
const param = fc.tuple(label, fc.option(chars(unreserved + '[]/:&+$', 1, 6), { nil: undefined }));

const uriParts = fc.record({
  scheme: fc.constantFrom('sip', 'sips', 'SIP'),
  user: fc.option(chars(unreserved + userExtra), { nil: undefined }),
  password: fc.option(chars(unreserved + passwordExtra, 0), { nil: undefined }),
  host,
  port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
  params: fc.array(param, { maxLength: 3 }),
  headers: fc.option(chars(unreserved + '[]/?:+$=&', 1, 10), { nil: undefined }),
});

describe('scanner and parser agree (property)', () => {
  it('on every generated SIP URI: the parts come back as generated, the conference is the user part', () => {
    fc.assert(
      fc.property(uriParts, (p) => {
        const userinfo =
          p.user === undefined ? '' : `${p.user}${p.password === undefined ? '' : `:${p.password}`}@`;
        const params = p.params.map(([k, v]) => `;${k}${v === undefined ? '' : `=${v}`}`).join('');
        const uri = `${p.scheme}:${userinfo}${p.host}${p.port === undefined ? '' : `:${p.port}`}${params}${
          p.headers === undefined ? '' : `?${p.headers}`
        }`;
        const u = parseSipUri(uri);
        expect(u).toBeDefined();
        expect(u!.scheme).toBe(p.scheme.toLowerCase());
        // the user ends at its first ':' (a user part has none unescaped); the rest is the password
        expect(u!.user).toBe(p.user);
        expect(u!.password).toBe(p.user === undefined ? undefined : p.password);
        expect(u!.host).toBe(p.host);
        expect(u!.port).toBe(p.port);
        expect(u!.headers).toBe(p.headers);
        expect(scanned(uri)).toEqual({ conferenceId: p.user || undefined });
      }),
      { numRuns: 2000 },
    );
  });

  it('on arbitrary strings: the scanner finds a conference exactly when the parser finds a user part', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(...'sip:@;?[]:a1%.<>'.split('')), maxLength: 16 }),
        (s) => {
          const uri = `sip:${s}`;
          const u = parseSipUri(uri);
          const k = scanned(uri);
          if (u === undefined) expect(k).toEqual({ reason: 'bad-start-line' });
          else expect(k).toEqual({ conferenceId: u.user || undefined });
        },
      ),
      { numRuns: 3000 },
    );
  });
});
