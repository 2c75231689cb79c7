import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Codec, createKeyring, MsgType, SIMULATION_KEYRING, SimulatedCluster } from '../src/index.js';

describe('GossipNode under bad input', () => {
  it('drops unauthenticated, replayed, malformed and oversized datagrams, counts each reason, and keeps working', async () => {
    const c = await SimulatedCluster.create({ size: 5, seed: 21 });
    expect(c.runUntil(() => c.membershipConverged(), 30_000, 100)).toBeDefined();
    const victim = c.nodes[2]!;
    const evil = c.network.createTransport('evil:1');
    await evil.start(() => undefined);
    let captured: Uint8Array | undefined;
    c.network.tap = (from, to, bytes) => {
      if (!captured && to === victim.address && bytes[1] === MsgType.Ping) captured = bytes;
    };
    c.advance(3000);
    c.network.tap = undefined;
    expect(captured).toBeDefined();

    const wrongKey = new Codec(
      createKeyring({ keys: [{ id: 1, secret: 'attacker-key-0123456789' }], primary: 1 }),
      {
        maxDatagramBytes: 1400,
        maxMessageAgeMs: 30_000,
      },
    );
    const forged = wrongKey.encode(
      {
        type: MsgType.Gossip,
        from: 'evil',
        events: [{ kind: 'dead', id: victim.id, inc: 99, from: 'evil' }],
      },
      c.clock.now(),
    );
    evil.send(victim.address, forged);
    evil.send(victim.address, Buffer.alloc(2000, 7));
    evil.send(victim.address, Buffer.from('garbage'));
    // authenticated (an insider's key) but a body that is not a message of its type
    const body = Buffer.from([0x93, 0x01, 0x02, 0x03]);
    const frame = Buffer.concat([
      Buffer.from([1, MsgType.Ping, 1, 0, 0, 0, 0, 0, 0]),
      body,
      Buffer.alloc(32),
    ]);
    frame.writeUIntBE(c.clock.now(), 3, 6);
    createHmac('sha256', Buffer.from(SIMULATION_KEYRING.keys[0]!.secret))
      .update(frame.subarray(0, frame.length - 32))
      .digest()
      .copy(frame, frame.length - 32);
    evil.send(victim.address, frame);
    c.advance(100);
    // the captured ping, replayed after the age window
    c.advance(31_000);
    evil.send(victim.address, captured!);
    c.advance(100);

    const d = victim.stats().dropped;
    expect(d.bad_mac).toBe(1);
    expect(d.oversized).toBe(1);
    expect(d.too_short).toBe(1);
    expect(d.malformed).toBe(1);
    expect(d.too_old).toBe(1);
    expect(victim.stats().internalErrors).toBe(0);
    // nothing changed: the forged death did not take, and the member still works
    expect(c.nodes.every((n) => n.memberStatus(victim.id) === 'alive')).toBe(true);
    expect(victim.incarnation).toBe(0);
    victim.claim('after-attack', 1);
    expect(
      c.runUntil(() => c.nodes.every((n) => n.owner('after-attack')?.owner === victim.id), 5000, 5),
    ).toBeDefined();
  });
});
