import fc from 'fast-check';
import { ManualClock } from '@switchyard/core';
import { describe, expect, it } from 'vitest';
import {
  buildTunnelTemplate,
  deriveTunnelKeys,
  ReplayWindow,
  TunnelOpener,
  TunnelSealer,
  tunnelKeysFromWire,
  tunnelKeysToWire,
  TUNNEL_MAX_OVERHEAD,
  PopWireError,
} from '../src/index.js';

const keyring = { primary: 1, keys: [{ id: 1, secret: 'a-secret-of-16-bytes-or-more' }] };

function pair(clock: ManualClock) {
  const keys = deriveTunnelKeys(keyring);
  const sealer = new TunnelSealer(clock, keys);
  const opener = new TunnelOpener(clock, { self: 'host-2', keys, maxAgeMs: 30_000 });
  const template = buildTunnelTemplate({ from: 'host-1', to: 'host-2', keyId: 1 });
  return { sealer, opener, template, keys };
}

describe('udp tunnel', () => {
  it('round-trips the datagram, the client address and port and the local index', () => {
    const clock = new ManualClock(1_700_000_000_000);
    const { sealer, opener, template } = pair(clock);
    const out = Buffer.alloc(2000 + TUNNEL_MAX_OVERHEAD);
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 1500 }),
        fc.integer({ min: 1, max: 65535 }),
        fc.nat(3),
        fc.constantFrom('127.0.0.1', '198.18.0.7', '::1'),
        (p, port, local, address) => {
          const n = sealer.seal(out, template, local, address, port, p);
          const r = opener.open(Buffer.from(out.subarray(0, n)));
          expect(r).toEqual({ ok: true, from: 'host-1', local, address, port, payload: Buffer.from(p) });
        },
      ),
    );
  });

  it('drops a replayed packet, a tampered one, one for another host, one with an unknown key and a stale one', () => {
    const clock = new ManualClock(1_700_000_000_000);
    const { sealer, opener, template, keys } = pair(clock);
    const out = Buffer.alloc(3000);
    const n = sealer.seal(
      out,
      template,
      0,
      '127.0.0.1',
      5000,
      Buffer.from('INVITE sip:conf-1@x SIP/2.0\r\n\r\n'),
    );
    const packet = Buffer.from(out.subarray(0, n));
    expect(opener.open(packet).ok).toBe(true);
    expect(opener.open(packet)).toEqual({ ok: false, reason: 'replay' });

    const n2 = sealer.seal(out, template, 0, '127.0.0.1', 5000, Buffer.from('x'));
    const tampered = Buffer.from(out.subarray(0, n2));
    tampered[n2 - 20] ^= 1;
    expect(opener.open(tampered)).toEqual({ ok: false, reason: 'bad-mac' });

    const other = new TunnelOpener(clock, { self: 'host-3', keys, maxAgeMs: 30_000 });
    const n3 = sealer.seal(out, template, 0, '127.0.0.1', 5000, Buffer.from('x'));
    expect(other.open(Buffer.from(out.subarray(0, n3)))).toEqual({ ok: false, reason: 'not-for-us' });

    const foreign = new TunnelOpener(clock, {
      self: 'host-2',
      keys: deriveTunnelKeys({ primary: 7, keys: [{ id: 7, secret: 'another-secret-16-bytes' }] }),
      maxAgeMs: 30_000,
    });
    const n4 = sealer.seal(out, template, 0, '127.0.0.1', 5000, Buffer.from('x'));
    expect(foreign.open(Buffer.from(out.subarray(0, n4)))).toEqual({ ok: false, reason: 'unknown-key' });

    const n5 = sealer.seal(out, template, 0, '127.0.0.1', 5000, Buffer.from('x'));
    const late = Buffer.from(out.subarray(0, n5));
    clock.advance(30_001);
    expect(opener.open(late)).toEqual({ ok: false, reason: 'stale' });
  });

  it('is total over garbage: random bytes never throw and never open', () => {
    const clock = new ManualClock(1_700_000_000_000);
    const { opener } = pair(clock);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        const buf = Buffer.from(b);
        if (buf.length > 2) buf.writeUInt16BE(0x5359, 0);
        if (buf.length > 3) buf[2] = 1;
        if (buf.length > 4) buf[3] = 1;
        expect(opener.open(buf).ok).toBe(false);
      }),
    );
  });

  it('a restarted sender (new incarnation) is accepted; its old incarnation is not', () => {
    const clock = new ManualClock(1_700_000_000_000);
    const { sealer, opener, template, keys } = pair(clock);
    const out = Buffer.alloc(3000);
    const old = Buffer.from(out.subarray(0, sealer.seal(out, template, 0, '127.0.0.1', 1, Buffer.from('a'))));
    clock.advance(10);
    const restarted = new TunnelSealer(clock, keys);
    expect(
      opener.open(
        Buffer.from(out.subarray(0, restarted.seal(out, template, 0, '127.0.0.1', 1, Buffer.from('b')))),
      ).ok,
    ).toBe(true);
    expect(opener.open(old)).toEqual({ ok: false, reason: 'replay' });
  });

  it('keys: derived per id, serialised for the link, validated', () => {
    const k = deriveTunnelKeys(keyring);
    expect(k.keys.get(1)!.length).toBe(32);
    expect(tunnelKeysFromWire(tunnelKeysToWire(k))).toEqual(k);
    expect(() => deriveTunnelKeys({ primary: 2, keys: [{ id: 1, secret: 'a-secret-of-16-bytes' }] })).toThrow(
      PopWireError,
    );
    expect(() => deriveTunnelKeys({ primary: 1, keys: [{ id: 1, secret: 'short' }] })).toThrow(PopWireError);
  });
});

describe('replay window', () => {
  it('accepts each counter once, out of order within 1024, refuses older ones', () => {
    const w = new ReplayWindow();
    expect(w.check(1, 10)).toBe('ok');
    expect(w.check(1, 12)).toBe('ok');
    expect(w.check(1, 11)).toBe('ok');
    expect(w.check(1, 11)).toBe('replay');
    expect(w.check(1, 2000)).toBe('ok');
    expect(w.check(1, 12)).toBe('replay'); // fell out of the window
    expect(w.check(1, 1990)).toBe('ok');
    expect(w.check(0, 5000)).toBe('old-incarnation');
    expect(w.check(2, 1)).toBe('ok');
  });

  it('property: never accepts a duplicate', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(3000), { maxLength: 300 }), (counters) => {
        const w = new ReplayWindow();
        const seen = new Set<number>();
        for (const c of counters) {
          const v = w.check(1, c);
          if (seen.has(c)) expect(v).not.toBe('ok');
          if (v === 'ok') seen.add(c);
        }
      }),
    );
  });
});
