import { describe, expect, it } from 'vitest';
import { deriveOwnerKeys, ownerToken, OwnerTokenTable, OWNER_PARAM } from '../src/index.js';

const ring = { primary: 1, keys: [{ id: 1, secret: 'owner-token-test-secret-0123' }] };

function request(uri: string, method = 'BYE'): Buffer {
  return Buffer.from(
    `${method} ${uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\n` +
      `To: <sip:c@x>;tag=2\r\nCall-ID: c1\r\nCSeq: 2 ${method}\r\nContent-Length: 0\r\n\r\n`,
  );
}

describe('owner tokens', () => {
  const keys = deriveOwnerKeys(ring);

  it('signs a host id and verifies it from the Request-URI bytes alone', () => {
    const table = new OwnerTokenTable(keys, 'h1');
    table.setHosts(['h1', 'h2', 'h3']);
    const t = ownerToken(keys, 'h2');
    expect(t.startsWith('h2.1.')).toBe(true);
    expect(table.scan(request(`sip:conf-a@127.0.3.2:5060;${OWNER_PARAM}=${t}`))).toEqual({
      kind: 'owner',
      host: 'h2',
    });
    // further parameters and a transport after it
    expect(table.scan(request(`sip:conf-a@127.0.3.2:5060;${OWNER_PARAM}=${t};transport=udp`))).toEqual({
      kind: 'owner',
      host: 'h2',
    });
    expect(table.selfToken).toBe(ownerToken(keys, 'h1'));
  });

  it('no token: none; a token only in a header, not in the Request-URI: none', () => {
    const table = new OwnerTokenTable(keys, 'h1');
    expect(table.scan(request('sip:conf-a@127.0.3.2:5060'))).toEqual({ kind: 'none' });
    const inHeader = Buffer.from(
      `BYE sip:conf-a@h SIP/2.0\r\nContact: <sip:x@y;${OWNER_PARAM}=${ownerToken(keys, 'h1')}>\r\n\r\n`,
    );
    expect(table.scan(inHeader)).toEqual({ kind: 'none' });
    expect(table.scan(Buffer.from('garbage'))).toEqual({ kind: 'none' });
    expect(table.scan(Buffer.alloc(0))).toEqual({ kind: 'none' });
  });

  it('a forged token (other secret, altered MAC, altered host, oversized) is refused', () => {
    const table = new OwnerTokenTable(keys, 'h1');
    table.setHosts(['h1', 'h2']);
    const other = deriveOwnerKeys({ primary: 1, keys: [{ id: 1, secret: 'an-attacker-guessed-secret' }] });
    const good = ownerToken(keys, 'h2');
    for (const t of [
      ownerToken(other, 'h2'),
      good.slice(0, -1) + (good.endsWith('A') ? 'B' : 'A'),
      `h1${good.slice(2)}`,
      'x'.repeat(500),
      '',
    ])
      expect(table.scan(request(`sip:conf@h;${OWNER_PARAM}=${t}`)), t).toEqual({ kind: 'forged' });
  });

  it('a host that left the table is no longer vouched for; every key of the ring is accepted', () => {
    const two = deriveOwnerKeys({
      primary: 2,
      keys: [
        { id: 1, secret: 'owner-token-test-secret-0123' },
        { id: 2, secret: 'owner-token-test-secret-4567' },
      ],
    });
    const table = new OwnerTokenTable(two, 'h1');
    table.setHosts(['h1', 'h2']);
    expect(table.verify(ownerToken(two, 'h2', 1))).toEqual({ kind: 'owner', host: 'h2' });
    expect(table.verify(ownerToken(two, 'h2', 2))).toEqual({ kind: 'owner', host: 'h2' });
    table.setHosts(['h1']);
    expect(table.verify(ownerToken(two, 'h2', 2))).toEqual({ kind: 'forged' });
  });

  it('bad keyrings are refused with PWR_ERR_KEY', () => {
    expect(() => deriveOwnerKeys({ primary: 2, keys: ring.keys })).toThrow(
      expect.objectContaining({ code: 'PWR_ERR_KEY' }),
    );
    expect(() => deriveOwnerKeys({ primary: 1, keys: [{ id: 1, secret: 'short' }] })).toThrow(
      expect.objectContaining({ code: 'PWR_ERR_KEY' }),
    );
    expect(() => ownerToken(keys, 'h1', 9)).toThrow(expect.objectContaining({ code: 'PWR_ERR_KEY' }));
  });

  describe("top Via (C14: responses to a worker's own requests)", () => {
    function response(vias: string[], extra = ''): Buffer {
      return Buffer.from(
        `SIP/2.0 200 OK\r\n${vias.join('\r\n')}\r\n${extra}From: <sip:c@x>;tag=2\r\nTo: <sip:a@x>;tag=1\r\n` +
          `Call-ID: c1\r\nCSeq: 3 INVITE\r\nContent-Length: 0\r\n\r\n`,
      );
    }
    const table = new OwnerTokenTable(keys, 'h1');
    table.setHosts(['h1', 'h2', 'h3']);
    const t2 = ownerToken(keys, 'h2');

    it('finds the token in the top Via, whatever the header case, compact form, or parameter order', () => {
      const owner = { kind: 'owner', host: 'h2' };
      for (const via of [
        `Via: SIP/2.0/UDP 127.0.3.2:5060;branch=z9hG4bK-mv-1;rport=5060;${OWNER_PARAM}=${t2}`,
        `via: SIP/2.0/UDP 127.0.3.2:5060;${OWNER_PARAM}=${t2};branch=z9hG4bK-mv-1;rport`,
        `VIA:SIP/2.0/UDP 127.0.3.2:5060;branch=z9hG4bK-mv-1;${OWNER_PARAM}=${t2}`,
        `v: SIP/2.0/UDP 127.0.3.2:5060;branch=z9hG4bK-mv-1;${OWNER_PARAM}=${t2}`,
        `Via: SIP/2.0/UDP 127.0.3.2:5060;branch=z9hG4bK-mv-1;${OWNER_PARAM}=${t2}, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx`,
      ])
        expect(table.scanVia(response([via])), via).toEqual(owner);
      // headers before the Via do not matter
      expect(
        table.scanVia(response([`Via: SIP/2.0/UDP h;branch=z9hG4bK1;${OWNER_PARAM}=${t2}`], '')),
      ).toEqual(owner);
    });

    it('only the top Via counts; no Via or no token: none; a token elsewhere: none', () => {
      // a token in a lower Via (a proxy's, or one on the second value of the top line) is not ours
      expect(
        table.scanVia(
          response([
            `Via: SIP/2.0/UDP p;branch=z9hG4bKp`,
            `Via: SIP/2.0/UDP h;branch=z9hG4bK1;${OWNER_PARAM}=${t2}`,
          ]),
        ),
      ).toEqual({ kind: 'none' });
      expect(
        table.scanVia(response([`Via: SIP/2.0/UDP p;branch=z9hG4bKp, SIP/2.0/UDP h;${OWNER_PARAM}=${t2}`])),
      ).toEqual({ kind: 'none' });
      expect(table.scanVia(response([]))).toEqual({ kind: 'none' });
      expect(
        table.scanVia(
          response(['Via: SIP/2.0/UDP h;branch=z9hG4bK1'], `Contact: <sip:x@y;${OWNER_PARAM}=${t2}>\r\n`),
        ),
      ).toEqual({ kind: 'none' });
      // a Via in the body is past the blank line
      expect(
        table.scanVia(Buffer.from(`SIP/2.0 200 OK\r\nCall-ID: c\r\n\r\nVia: x;${OWNER_PARAM}=${t2}\r\n`)),
      ).toEqual({ kind: 'none' });
      // a header whose name starts with "v" is not a Via
      expect(
        table.scanVia(response([`Via: SIP/2.0/UDP h;branch=z9hG4bK1`], `Vx: y;${OWNER_PARAM}=${t2}\r\n`)),
      ).toEqual({ kind: 'none' });
      expect(table.scanVia(Buffer.from('garbage'))).toEqual({ kind: 'none' });
      expect(table.scanVia(Buffer.alloc(0))).toEqual({ kind: 'none' });
    });

    it('a forged token in the top Via is refused', () => {
      const other = deriveOwnerKeys({ primary: 1, keys: [{ id: 1, secret: 'an-attacker-guessed-secret' }] });
      for (const t of [ownerToken(other, 'h2'), `h3${t2.slice(2)}`, 'x'.repeat(500), ''])
        expect(
          table.scanVia(response([`Via: SIP/2.0/UDP h;branch=z9hG4bK1;${OWNER_PARAM}=${t}`])),
          t,
        ).toEqual({
          kind: 'forged',
        });
    });
  });
});
