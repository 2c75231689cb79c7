import { describe, expect, it } from 'vitest';
import {
  Codec,
  createKeyring,
  GOSSIP_LAN_DEFAULTS,
  GossipError,
  MsgType,
  type Message,
} from '../src/index.js';
import { codec, KEYRING } from './helpers.js';

const NOW = 1_700_000_000_000;

export const SAMPLES: Message[] = [
  {
    type: MsgType.Ping,
    seq: 1,
    from: 'a',
    target: 'b',
    events: [{ kind: 'alive', id: 'c', addr: '127.0.1.3:7946', inc: 2 }],
  },
  { type: MsgType.PingReq, seq: 2, from: 'a', target: 'b', targetAddr: '127.0.1.2:7946', events: [] },
  {
    type: MsgType.Ack,
    seq: 4_000_000_000,
    from: 'b',
    events: [{ kind: 'suspect', id: 'c', inc: 1, from: 'a' }],
  },
  {
    type: MsgType.Gossip,
    from: 'a',
    events: [
      { kind: 'dead', id: 'd', inc: 3, from: 'a' },
      { kind: 'left', id: 'e', inc: 0 },
      { kind: 'claim', session: 'conf-42', owner: 'a', epoch: 7, version: 1 },
      { kind: 'close', session: 'conf-41', owner: 'b', epoch: 6, version: 3 },
    ],
  },
  {
    type: MsgType.State,
    from: 'a',
    reply: true,
    join: false,
    members: [
      { id: 'a', addr: '127.0.1.1:7946', inc: 0, status: 'alive' },
      { id: 'x', addr: 'h:1', inc: 9, status: 'left' },
    ],
    owners: [{ session: 's', owner: 'a', epoch: 1, version: 2, closed: true }],
  },
];

describe('Codec', () => {
  it('round-trips every message type', () => {
    const c = codec();
    for (const m of SAMPLES) {
      const bytes = c.encode(m, NOW);
      expect(bytes[0]).toBe(1);
      expect(bytes[1]).toBe(m.type);
      expect(c.decode(bytes, NOW + 5)).toEqual({ ok: true, msg: m, sentAt: NOW });
    }
  });

  it('accepts any keyring key, signs with the primary (rotation without downtime)', () => {
    const old = { id: 1, secret: 'old-key-0123456789abcdef' };
    const neu = { id: 2, secret: 'new-key-0123456789abcdef' };
    const opts = { maxDatagramBytes: 1400, maxMessageAgeMs: 30_000 };
    const sendsOld = new Codec(createKeyring({ keys: [old], primary: 1 }), opts);
    const both = new Codec(createKeyring({ keys: [old, neu], primary: 2 }), opts);
    const onlyNew = new Codec(createKeyring({ keys: [neu], primary: 2 }), opts);
    const fromOld = sendsOld.encode(SAMPLES[0]!, NOW);
    const fromBoth = both.encode(SAMPLES[0]!, NOW);
    expect(fromBoth[2]).toBe(2);
    expect(both.decode(fromOld, NOW).ok).toBe(true);
    expect(onlyNew.decode(fromBoth, NOW).ok).toBe(true);
    expect(onlyNew.decode(fromOld, NOW)).toEqual({ ok: false, reason: 'unknown_key' });
    expect(sendsOld.decode(fromBoth, NOW)).toEqual({ ok: false, reason: 'unknown_key' });
  });

  it('drops and names every kind of bad datagram', () => {
    const c = codec();
    const good = c.encode(SAMPLES[3]!, NOW);
    const flip = (i: number) => {
      const b = Buffer.from(good);
      b[i]! ^= 0x01;
      return b;
    };
    expect(c.decode(good.subarray(0, 20), NOW)).toEqual({ ok: false, reason: 'too_short' });
    expect(c.decode(Buffer.alloc(1401), NOW)).toEqual({ ok: false, reason: 'oversized' });
    expect(c.decode(flip(0), NOW)).toEqual({ ok: false, reason: 'bad_version' });
    const t = Buffer.from(good);
    t[1] = 99;
    expect(c.decode(t, NOW)).toEqual({ ok: false, reason: 'unknown_type' });
    expect(c.decode(flip(2), NOW)).toEqual({ ok: false, reason: 'unknown_key' });
    expect(c.decode(flip(20), NOW)).toEqual({ ok: false, reason: 'bad_mac' });
    expect(c.decode(flip(good.length - 1), NOW)).toEqual({ ok: false, reason: 'bad_mac' });
    const wrongKey = new Codec(
      createKeyring({ keys: [{ id: 1, secret: 'another-key-0123456789' }], primary: 1 }),
      GOSSIP_LAN_DEFAULTS,
    );
    expect(wrongKey.decode(good, NOW)).toEqual({ ok: false, reason: 'bad_mac' });
    expect(c.decode(good, NOW + 30_001)).toEqual({ ok: false, reason: 'too_old' });
    expect(c.decode(good, NOW - 30_001)).toEqual({ ok: false, reason: 'from_future' });
  });

  it('refuses to encode a message over the size bound', () => {
    const c = codec({ maxDatagramBytes: 512 });
    const big: Message = {
      type: MsgType.Gossip,
      from: 'a',
      events: Array.from({ length: 40 }, (_, i) => ({
        kind: 'claim' as const,
        session: `session-${i}`,
        owner: 'a',
        epoch: 1,
        version: 1,
      })),
    };
    expect(() => c.encode(big, NOW)).toThrow(GossipError);
  });

  it('validates the keyring', () => {
    expect(() => createKeyring({ keys: [], primary: 1 })).toThrow(
      expect.objectContaining({ code: 'GSP_ERR_KEYRING' }),
    );
    expect(() => createKeyring({ keys: [{ id: 1, secret: 'short' }], primary: 1 })).toThrow(
      /shorter than 16/,
    );
    expect(() => createKeyring({ keys: [KEYRING.keys[0]!, KEYRING.keys[0]!], primary: 1 })).toThrow(
      /duplicate/,
    );
    expect(() => createKeyring({ keys: KEYRING.keys, primary: 3 })).toThrow(/primary/);
    expect(() => createKeyring({ keys: [{ id: 256, secret: 'x'.repeat(16) }], primary: 256 })).toThrow(
      /0..255/,
    );
  });
});
