/** The relay: the pure room (learning, fan-out, bounds, idle sweep) and the UDP relay with real sockets. */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, silentLogger } from '@switchyard/core';
import { waitFor } from '@switchyard/testing';
import { RelayServer, Room } from '../src/index.js';

const limits = { maxParticipants: 3, minPacketBytes: 12, maxPacketBytes: 1500 };

describe('Room', () => {
  it('learns participants from their first RTP packet and sends each packet to all others', () => {
    const r = new Room(limits);
    expect(r.onPacket('a', 1, 0x80, 20, 0)).toEqual({ ok: true, targets: [], joined: true });
    const v = r.onPacket('b', 2, 0x80, 20, 0);
    expect(v.ok && v.targets.map((t) => t.key)).toEqual(['a:1']);
    r.onPacket('c', 3, 0x80, 20, 0);
    const fromA = r.onPacket('a', 1, 0x80, 20, 1);
    expect(fromA.ok && fromA.targets.map((t) => t.key).sort()).toEqual(['b:2', 'c:3']);
    expect(fromA.ok && fromA.joined).toBe(false);
  });

  it('refuses what is not RTP, too large, or a source beyond the bound', () => {
    const r = new Room(limits);
    expect(r.onPacket('a', 1, 0x00, 20, 0)).toEqual({ ok: false, reason: 'not-rtp' }); // version 0
    expect(r.onPacket('a', 1, 0x80, 8, 0)).toEqual({ ok: false, reason: 'not-rtp' }); // shorter than the header
    expect(r.onPacket('a', 1, 0x80, 1501, 0)).toEqual({ ok: false, reason: 'too-large' });
    for (const p of [1, 2, 3]) r.onPacket('a', p, 0x80, 20, 0);
    expect(r.onPacket('a', 4, 0x80, 20, 0)).toEqual({ ok: false, reason: 'full' });
    expect(r.size).toBe(3);
  });

  it('forgets participants silent past the idle time', () => {
    const r = new Room(limits);
    r.onPacket('a', 1, 0x80, 20, 0);
    r.onPacket('b', 2, 0x80, 20, 500);
    expect(r.sweep(1001, 1000)).toBe(1);
    expect(r.list().map((p) => p.key)).toEqual(['b:2']);
  });
});

describe('RelayServer (real UDP)', () => {
  const host = '127.0.41.4';
  let relay: RelayServer | undefined;
  const socks: dgram.Socket[] = [];
  afterEach(async () => {
    for (const s of socks.splice(0)) s.close();
    await relay?.stop();
  });

  it('allocates one socket per conference (same key, same answer) and relays among its participants only', async () => {
    const clock = new ManualClock();
    relay = new RelayServer(
      { clock, logger: silentLogger },
      { bindHost: host, advertiseHost: host, maxConferences: 2, participantIdleMs: 1000, ...limits },
    );
    await relay.start();
    let changes = 0;
    relay.onChange(() => changes++);
    const a = await relay.allocate('c1');
    expect(a).toMatchObject({ conference: 'c1', rtp: { address: host }, created: true });
    expect(await relay.allocate('c1')).toMatchObject({ rtp: a.rtp, created: false });
    const other = await relay.allocate('c2');
    expect(other.rtp.port).not.toBe(a.rtp.port);
    await expect(relay.allocate('c3')).rejects.toMatchObject({ code: 'MIX_ERR_FULL' });

    const open = () =>
      new Promise<dgram.Socket>((resolve) => {
        const s = dgram.createSocket('udp4');
        socks.push(s);
        s.bind(0, host, () => resolve(s));
      });
    const [p1, p2, stranger] = await Promise.all([open(), open(), open()]);
    const got: string[] = [];
    p2!.on('message', (m) => got.push(m.subarray(12).toString()));
    const strangerGot: string[] = [];
    stranger!.on('message', (m) => strangerGot.push(m.toString()));
    const rtp = (s: string) =>
      Buffer.concat([Buffer.from([0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]), Buffer.from(s)]);
    p2!.send(rtp('hello'), a.rtp.port, host); // p2 joins
    await waitFor('p2 joined', () => relay!.stats().participants === 1);
    stranger!.send(rtp('elsewhere'), other.rtp.port, host); // another conference
    p1!.send(Buffer.from('junk'), a.rtp.port, host); // not RTP: dropped, p1 not learned
    for (let i = 0; i < 5; i++) p1!.send(rtp(`m${i}`), a.rtp.port, host);
    await waitFor('p2 got five', () => got.length === 5);
    expect(got).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(strangerGot).toEqual([]);
    const s = relay.stats();
    expect(s).toMatchObject({ conferences: 2, participants: 3, relayed: 5, dropped: { notRtp: 1 } });
    expect(s.detail.find((d) => d.conference === 'c1')).toMatchObject({ participants: 2, relayed: 5 });
    expect(changes).toBeGreaterThanOrEqual(5); // 2 conferences + 3 joins
    clock.advance(2000); // everyone idle past 1 s
    expect(relay.stats().participants).toBe(0);
    expect(await relay.release('c1')).toBe(true);
    expect(await relay.release('c1')).toBe(false);
  });
});
