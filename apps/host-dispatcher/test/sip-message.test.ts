import { describe, expect, it } from 'vitest';
import {
  StreamFramer,
  buildResponse,
  frameMessage,
  parseSipMessage,
  serializeSipMessage,
  tagOf,
} from '../src/index.js';
import { conferenceOfUri } from '@switchyard/affinity';
import { invite } from './sip-fixtures.js';

describe('parseSipMessage', () => {
  it('parses a request with compact headers, folding and a body', () => {
    const raw = Buffer.from(
      'INVITE sip:conf-9@h SIP/2.0\r\nv: SIP/2.0/UDP a;branch=z9hG4bKx\r\nf: <sip:a@h>;tag=1\r\nt: <sip:conf-9@h>\r\ni: abc\r\nCSeq: 4\r\n INVITE\r\nl: 3\r\n\r\nxyzTAIL',
    );
    const r = parseSipMessage(raw, { stream: true });
    expect(r.ok).toBe(true);
    if (!r.ok || r.message.kind !== 'request') throw new Error('not a request');
    expect(r.message.method).toBe('INVITE');
    expect(r.message.headers.find((h) => h.name === 'call-id')?.value).toBe('abc');
    expect(r.message.headers.find((h) => h.name === 'cseq')?.value).toBe('4 INVITE');
    expect(r.message.body.toString()).toBe('xyz');
    expect(r.length).toBe(raw.length - 4);
  });

  it('rejects what is broken, with a reason, and keeps a request head to answer 400', () => {
    expect(parseSipMessage(Buffer.from('')).ok).toBe(false);
    const noCallId = parseSipMessage(
      Buffer.from(
        'OPTIONS sip:x@h SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:x@h>\r\nCSeq: 1 OPTIONS\r\n\r\n',
      ),
    );
    expect(noCallId).toMatchObject({ ok: false, error: 'missing-header' });
    expect(!noCallId.ok && noCallId.partial?.method).toBe('OPTIONS');
    const truncated = invite().subarray(0, invite().length - 10);
    expect(parseSipMessage(truncated)).toMatchObject({ ok: false, error: 'truncated-body' });
    expect(parseSipMessage(Buffer.from('HELLO\r\n\r\n'))).toMatchObject({
      ok: false,
      error: 'bad-start-line',
    });
    expect(parseSipMessage(Buffer.from('INVITE sip:a@b SIP/2.0\r\nno colon here\r\n\r\n'))).toMatchObject({
      ok: false,
      error: 'bad-header',
    });
    const big = Buffer.concat([invite(), Buffer.alloc(70_000, 65)]);
    expect(parseSipMessage(big, { maxBytes: 4096 })).toMatchObject({ ok: false });
  });

  it('round-trips through serialize and builds RFC 3261 responses', () => {
    const r = parseSipMessage(invite());
    if (!r.ok || r.message.kind !== 'request') throw new Error('parse');
    const res = buildResponse(r.message, 180, {
      toTag: 'tt',
      viaReceived: { address: '127.0.0.2', port: 9 },
    });
    const back = parseSipMessage(serializeSipMessage(res));
    if (!back.ok || back.message.kind !== 'response') throw new Error('reparse');
    expect(back.message.status).toBe(180);
    expect(tagOf(back.message.headers.find((h) => h.name === 'to')?.value)).toBe('tt');
    expect(back.message.headers.find((h) => h.name === 'via')?.value).toContain('received=127.0.0.2');
    expect(conferenceOfUri(r.message.uri)).toBe('conf-7');
  });
});

describe('stream framing', () => {
  it('splits back-to-back messages and waits for partial ones', () => {
    const a = invite({ callId: 'a' });
    const b = invite({ callId: 'b' });
    const f = new StreamFramer(65535);
    f.push(Buffer.concat([Buffer.from('\r\n\r\n'), a, b.subarray(0, 20)]));
    const first = f.next();
    expect(Buffer.isBuffer(first) && first.equals(a)).toBe(true);
    expect(f.next()).toBeUndefined();
    f.push(b.subarray(20));
    const second = f.next();
    expect(Buffer.isBuffer(second) && second.equals(b)).toBe(true);
  });

  it('reports a missing Content-Length and an oversized message', () => {
    expect(frameMessage(Buffer.from('OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n'), 1000)).toEqual({
      kind: 'error',
      reason: 'bad-content-length',
    });
    expect(frameMessage(Buffer.alloc(2000, 65), 1000)).toEqual({ kind: 'error', reason: 'too-large' });
    expect(frameMessage(Buffer.from('OPTIONS sip:a@b SIP/2.0\r\nl: 99999\r\n\r\n'), 1000)).toEqual({
      kind: 'error',
      reason: 'too-large',
    });
  });
});
