import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dialogKey, extractSipKeys, parseSipUri, type KeyResult, type SipKeys } from '../src/index.js';

const enc = (s: string) => Buffer.from(s, 'latin1');
const crlf = (lines: string[]) => lines.join('\r\n');

const INVITE = crlf([
  'INVITE sip:conf-42@pop.example.com SIP/2.0',
  'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds',
  'Max-Forwards: 70',
  'To: "Conference 42" <sip:conf-42@pop.example.com>',
  'From: "Alice; tag=fake" <sip:alice@atlanta.example.com;tag=uri-tag>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@pc33.atlanta.example.com>',
  'Content-Type: application/sdp',
  'Content-Length: 4',
  '',
  'v=0\r\n',
]);

function keysOf(r: KeyResult): SipKeys {
  if (!r.ok) throw new Error(`expected keys, got ${r.reason}`);
  return r.keys;
}

describe('extractSipKeys', () => {
  it('extracts every key of a real INVITE, ignoring tags inside the display name and the URI', () => {
    expect(keysOf(extractSipKeys(enc(INVITE)))).toEqual({
      isRequest: true,
      method: 'INVITE',
      statusCode: undefined,
      requestUri: 'sip:conf-42@pop.example.com',
      conferenceId: 'conf-42',
      callId: 'a84b4c76e66710@pc33.atlanta.example.com',
      fromTag: '1928301774',
      toTag: undefined,
      cseqMethod: 'INVITE',
    });
  });

  it('reads compact forms, odd case and whitespace before the colon, and a response status', () => {
    const msg = crlf([
      'SIP/2.0 200 OK',
      'v: SIP/2.0/UDP h;branch=z9hG4bKx',
      'T :<sip:bob@b>;TAG=314',
      'f: sip:alice@a;tag=abc',
      'I:   xyz@host  ',
      'cSeq: 2 BYE',
      '',
      '',
    ]);
    expect(keysOf(extractSipKeys(enc(msg)))).toEqual({
      isRequest: false,
      method: undefined,
      statusCode: 200,
      requestUri: undefined,
      conferenceId: undefined,
      callId: 'xyz@host',
      fromTag: 'abc',
      toTag: '314',
      cseqMethod: 'BYE',
    });
  });

  it('takes the user part before a password and leaves it out when the URI has none', () => {
    const a = keysOf(
      extractSipKeys(enc('BYE sips:room7:secret@h;transport=tcp SIP/2.0\r\nCall-ID: c\r\n\r\n')),
    );
    expect(a.conferenceId).toBe('room7');
    const b = keysOf(extractSipKeys(enc('OPTIONS sip:pop.example.com SIP/2.0\nCall-ID: c\n\n')));
    expect(b.conferenceId).toBeUndefined();
    expect(b.method).toBe('OPTIONS');
  });

  it('follows folded header lines', () => {
    const msg = 'MESSAGE sip:u@h SIP/2.0\r\nFrom: <sip:a@b>\r\n ;tag=folded\r\nCall-ID:\r\n  cid-1\r\n\r\n';
    const k = keysOf(extractSipKeys(enc(msg)));
    expect(k.fromTag).toBe('folded');
    expect(k.callId).toBe('cid-1');
  });

  it('gives a typed reason for each kind of bad input', () => {
    const reason = (s: string | Uint8Array, maxBytes?: number) => {
      const r = extractSipKeys(typeof s === 'string' ? enc(s) : s, maxBytes ? { maxBytes } : undefined);
      return r.ok ? 'ok' : r.reason;
    };
    expect(reason(new Uint8Array(0))).toBe('empty');
    expect(reason('\r\n\r\n')).toBe('empty');
    expect(reason(INVITE, 100)).toBe('too-large');
    expect(reason('GET / HTTP/1.1\r\nHost: x\r\n\r\n')).toBe('not-sip');
    expect(reason('SIP/2.0 2x0 OK\r\nCall-ID: c\r\n\r\n')).toBe('bad-start-line');
    expect(reason('INVITE  SIP/2.0\r\nCall-ID: c\r\n\r\n')).toBe('bad-start-line');
    expect(reason('INVITE nocolon SIP/2.0\r\nCall-ID: c\r\n\r\n')).toBe('bad-start-line');
    expect(reason('INVITE sip:a@b SIP/2.0')).toBe('truncated');
    expect(reason('INVITE sip:a@b SIP/2.0\r\nCall-ID: c\r\n')).toBe('truncated');
    expect(reason('INVITE sip:a@b SIP/2.0\r\nFrom: <sip:x@y>;tag=1\r\n\r\n')).toBe('no-call-id');
    expect(reason('INVITE sip:a@b SIP/2.0\r\nCall-ID:   \r\n\r\n')).toBe('no-call-id');
  });

  it('accepts any Uint8Array view, not only Buffers', () => {
    const bytes = enc(`xx${INVITE}`);
    const view = new Uint8Array(bytes.buffer, bytes.byteOffset + 2, bytes.length - 2);
    expect(keysOf(extractSipKeys(view)).callId).toBe('a84b4c76e66710@pc33.atlanta.example.com');
  });

  it('stays linear on large adversarial inputs up to maxBytes', () => {
    const cases = [
      Buffer.alloc(65535, 0x61), // one endless start line
      Buffer.alloc(65535, 0x0a), // only line feeds
      enc(`INVITE sip:a@b SIP/2.0\r\n${'f: <'.repeat(16000)}`), // unterminated name-addr, no line end
      enc(`INVITE sip:a@b SIP/2.0\r\n${'t: "\\'.repeat(100)}\r\n${'x:\r\n '.repeat(10000)}`), // folds forever
      enc(`SIP/2.0 200 OK\r\n${'From: <sip:x>;a;a;a;a;a;a;a\r\n'.repeat(2000)}`.slice(0, 65535)),
    ];
    const t0 = performance.now();
    for (const c of cases) expect(extractSipKeys(c).ok).toBe(false);
    expect(performance.now() - t0).toBeLessThan(2000); // microseconds on an idle machine; generous for a shared one
  });

  it('dialogKey joins Call-ID and tags', () => {
    expect(dialogKey({ callId: 'c', fromTag: 'f', toTag: undefined })).toBe('c\nf\n');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Property tests: totality over any bytes, and agreement with a straightforward reference parser on valid SIP.

/** The obvious parser: split into lines, unfold, regular expressions per line. Slow, but easy to check by eye. */
function referenceParse(text: string): Partial<SipKeys> | undefined {
  const head = text.split('\r\n\r\n')[0]!;
  const lines = head.replace(/\r\n[ \t]+/g, ' ').split('\r\n');
  const start = lines.shift()!;
  const out: Partial<SipKeys> = {};
  const resp = /^SIP\/2\.0 (\d{3})(?: .*)?$/.exec(start);
  if (resp) {
    Object.assign(out, { isRequest: false, statusCode: Number(resp[1]) });
  } else {
    const req = /^([A-Za-z]+) (\S+) SIP\/2\.0$/.exec(start);
    if (!req) return undefined;
    const uri = req[2]!;
    // the full URI parser: the scanner must agree with it
    const parsed = parseSipUri(uri);
    if (!parsed) return undefined;
    Object.assign(out, {
      isRequest: true,
      method: req[1],
      requestUri: uri,
      conferenceId: parsed.user || undefined,
    });
  }
  const seen = new Set<string>();
  for (const line of lines) {
    const m = /^([^:\s]+)\s*:(.*)$/.exec(line);
    if (!m) continue;
    const name = { i: 'call-id', f: 'from', t: 'to' }[m[1]!.toLowerCase()] ?? m[1]!.toLowerCase();
    if (seen.has(name)) continue;
    seen.add(name);
    const value = m[2]!.trim();
    if (name === 'call-id') out.callId = value.split(/\s+/)[0];
    if (name === 'cseq') out.cseqMethod = value.split(/\s+/)[1];
    if (name === 'from' || name === 'to') {
      const noQuotes = value.replace(/"(?:[^"\\]|\\.)*"/g, '""');
      const params = noQuotes.includes('<') ? noQuotes.slice(noQuotes.indexOf('>') + 1) : noQuotes;
      const tag = /;\s*tag\s*=\s*([^;\s,]+)/i.exec(params)?.[1];
      out[name === 'from' ? 'fromTag' : 'toTag'] = tag;
    }
  }
  return out;
}

const token = fc.stringMatching(/^[A-Za-z0-9\-.!%*_+`'~]{1,12}$/);
const method = fc.constantFrom('INVITE', 'ACK', 'BYE', 'OPTIONS', 'REFER', 'FOO');
const quoted = fc
  .array(fc.constantFrom('a', ' ', ';', 'tag=x', '<', '>', '\\"', '\\\\', ','), { maxLength: 6 })
  .map((xs) => `"${xs.join('')}"`);
const nameAddr = fc.record({
  display: fc.option(quoted, { nil: undefined }),
  user: token,
  uriTag: fc.boolean(),
  angle: fc.boolean(),
  tag: fc.option(token, { nil: undefined }),
  tagCase: fc.constantFrom('tag', 'TAG', 'Tag'),
  other: fc.boolean(),
});
type NameAddr = typeof nameAddr extends fc.Arbitrary<infer A> ? A : never;
function renderAddr(a: NameAddr): string {
  const params = `${a.other ? ';x=1' : ''}${a.tag ? `;${a.tagCase}=${a.tag}` : ''}`;
  if (!a.angle && !a.display) return `sip:${a.user}@h.example${params}`;
  return `${a.display ?? ''} <sip:${a.user}@h.example${a.uriTag ? ';tag=inuri' : ''}>${params}`;
}
const headerName = (long: string, compact: string | undefined) =>
  fc
    .tuple(fc.boolean(), fc.boolean(), fc.constantFrom('', ' ', '\t'))
    .map(([c, upper, ws]) => `${c && compact ? compact : upper ? long.toUpperCase() : long}${ws}`);
const validSip = fc
  .record({
    response: fc.boolean(),
    status: fc.integer({ min: 100, max: 699 }),
    method,
    user: fc.option(token, { nil: undefined }),
    callId: fc.stringMatching(/^[A-Za-z0-9.@\-_]{1,40}$/),
    from: nameAddr,
    to: nameAddr,
    cseq: fc.tuple(fc.nat(99999), method),
    names: fc.tuple(
      headerName('Call-ID', 'i'),
      headerName('From', 'f'),
      headerName('To', 't'),
      headerName('CSeq', undefined),
    ),
    extra: fc.array(
      fc.constantFrom('Via: SIP/2.0/UDP x;branch=z9hG4bK1', 'Max-Forwards: 70', 'X-Tag: tag=no'),
      { maxLength: 3 },
    ),
    order: fc.array(fc.nat(10), { minLength: 8, maxLength: 8 }),
    fold: fc.boolean(),
    body: fc.constantFrom('', 'v=0\r\nCall-ID: body\r\n'),
  })
  .map((r) => {
    const start = r.response
      ? `SIP/2.0 ${r.status} Whatever Reason`
      : `${r.method} sip:${r.user ? `${r.user}@` : ''}pop.example SIP/2.0`;
    const headers = [
      `${r.names[0]}: ${r.callId}`,
      `${r.names[1]}:${r.fold ? '\r\n ' : ' '}${renderAddr(r.from)}`,
      `${r.names[2]}: ${renderAddr(r.to)}`,
      `${r.names[3]}: ${r.cseq[0]} ${r.cseq[1]}`,
      ...r.extra,
    ];
    // shuffle deterministically from the generated order
    const shuffled = headers
      .map((h, i) => [r.order[i % r.order.length]!, i, h] as const)
      .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    return `${start}\r\n${shuffled.map((x) => x[2]).join('\r\n')}\r\n\r\n${r.body}`;
  });

describe('extractSipKeys properties', () => {
  it('is total: any bytes give keys or a typed reason, never a throw', () => {
    const reasons = new Set(['empty', 'too-large', 'not-sip', 'bad-start-line', 'truncated', 'no-call-id']);
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.option(fc.integer({ min: 1, max: 400 }), { nil: undefined }),
        (bytes, maxBytes) => {
          const r = extractSipKeys(bytes, maxBytes === undefined ? undefined : { maxBytes });
          if (r.ok) expect(r.keys.callId.length).toBeGreaterThan(0);
          else expect(reasons.has(r.reason)).toBe(true);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('is total on SIP-shaped garbage (valid messages mutated, cut and spliced)', () => {
    const mutated = fc
      .tuple(
        validSip,
        fc.array(fc.tuple(fc.nat(), fc.constantFrom(0, 10, 13, 32, 58, 59, 60, 62, 34, 92, 255)), {
          maxLength: 8,
        }),
        fc.nat(),
      )
      .map(([s, edits, cut]) => {
        const b = enc(s);
        for (const [at, v] of edits) b[at % b.length] = v;
        return b.subarray(0, cut % (b.length + 1));
      });
    fc.assert(
      fc.property(mutated, (bytes) => {
        const r = extractSipKeys(bytes);
        expect(typeof r.ok).toBe('boolean');
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees with the reference parser on valid SIP', () => {
    fc.assert(
      fc.property(validSip, (text) => {
        const ref = referenceParse(text);
        expect(ref).toBeDefined();
        const k = keysOf(extractSipKeys(enc(text)));
        expect({
          isRequest: k.isRequest,
          statusCode: k.statusCode,
          method: k.method,
          requestUri: k.requestUri,
          conferenceId: k.conferenceId,
          callId: k.callId,
          fromTag: k.fromTag,
          toTag: k.toTag,
          cseqMethod: k.cseqMethod,
        }).toEqual({
          isRequest: ref!.isRequest,
          statusCode: ref!.statusCode,
          method: ref!.method,
          requestUri: ref!.requestUri,
          conferenceId: ref!.conferenceId,
          callId: ref!.callId,
          fromTag: ref!.fromTag,
          toTag: ref!.toTag,
          cseqMethod: ref!.cseqMethod,
        });
      }),
      { numRuns: 1000 },
    );
  });
});
