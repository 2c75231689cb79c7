import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, ManualClock } from '@switchyard/core';
import { waitFor, thrownBy } from '@switchyard/testing';
import {
  DEFAULT_LIMITS,
  PUSH_TEST_PROFILE,
  PushPeer,
  PushPublisher,
  PushSubscriber,
  encodeFrame,
  FrameDecoder,
  decodeMessage,
  type PushHandshake,
  type PushMessage,
  type PushPublisherEvent,
  type PushSubscriberEvent,
} from '../src/index.js';

const configError = (fn: () => unknown): ConfigError => thrownBy(fn, ConfigError);

const record = { id: 'c1', service: 'mixer', address: '127.0.0.1:9100', load: 1, capacity: 10 };

describe('PushPeer (pure core, no sockets)', () => {
  const body = { ...record, region: 'default', state: 'serving' as const, meta: {} };
  it('up on the first heartbeat, heartbeat when unchanged, changed on delta or a different heartbeat', () => {
    const p = new PushPeer(350, 0, DEFAULT_LIMITS);
    expect(p.onMessage({ v: 1, k: 'hb', seq: 0, record: body }, 10).map((e) => e.type)).toEqual(['up']);
    expect(p.onMessage({ v: 1, k: 'hb', seq: 1, record: body }, 110).map((e) => e.type)).toEqual([
      'heartbeat',
    ]);
    const [d] = p.onMessage({ v: 1, k: 'delta', seq: 2, patch: { load: 5 } }, 120);
    expect(d).toMatchObject({ type: 'changed', record: { load: 5, revision: 2, expiresAt: 470 } });
    expect(p.onMessage({ v: 1, k: 'hb', seq: 3, record: { ...body, load: 6 } }, 130)[0]).toMatchObject({
      type: 'changed',
      record: { load: 6 },
    });
  });
  it('fails once after silence past the deadline, not before', () => {
    const p = new PushPeer(350, 0, DEFAULT_LIMITS);
    p.onMessage({ v: 1, k: 'hb', seq: 0, record: body }, 100);
    expect(p.onTick(450)).toEqual([]);
    expect(p.onTick(451).map((e) => e.type)).toEqual(['failed']);
    expect(p.onTick(900)).toEqual([]);
    expect(p.onClose('closed')).toEqual([]);
  });
  it('rejects a delta before any heartbeat and a sequence number that goes back', () => {
    const p = new PushPeer(350, 0, DEFAULT_LIMITS);
    expect(() => p.onMessage({ v: 1, k: 'delta', seq: 0, patch: { load: 1 } }, 1)).toThrow(
      /before the first heartbeat/,
    );
    const q = new PushPeer(350, 0, DEFAULT_LIMITS);
    q.onMessage({ v: 1, k: 'hb', seq: 5, record: body }, 1);
    expect(() => q.onMessage({ v: 1, k: 'hb', seq: 5, record: body }, 2)).toThrow(
      expect.objectContaining({ code: 'REG_ERR_BAD_MESSAGE' }),
    );
  });
  it('frames split across chunks decode; oversized lengths and invalid records are typed errors', () => {
    const f = encodeFrame({ v: 1, k: 'hb', seq: 0, record: body });
    const d = new FrameDecoder(1024);
    expect(d.push(f.subarray(0, 3))).toEqual([]);
    const [b] = d.push(f.subarray(3));
    expect(decodeMessage(b!, DEFAULT_LIMITS)).toMatchObject({ k: 'hb', record: { id: 'c1' } });
    expect(() => new FrameDecoder(1024).push(Buffer.from([0xff, 0xff, 0xff, 0xff]))).toThrow(
      expect.objectContaining({ code: 'REG_ERR_BAD_FRAME' }),
    );
    const badRecord = encodeFrame({ v: 1, k: 'hb', seq: 0, record: { ...body, address: '' } });
    expect(() => decodeMessage(badRecord.subarray(4), DEFAULT_LIMITS)).toThrow(
      expect.objectContaining({ code: 'REG_ERR_BAD_MESSAGE' }),
    );
  });
});

describe('push channel over real TCP (loopback), manual clock', () => {
  const stops: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const s of stops.splice(0).reverse()) await s();
  });

  const setup = async () => {
    const clock = new ManualClock();
    const sub = new PushSubscriber({ clock }, { ...PUSH_TEST_PROFILE, port: 0 });
    await sub.start();
    stops.push(() => sub.stop());
    const events: PushSubscriberEvent[] = [];
    sub.on((e) => events.push(e));
    const { host, port } = sub.address();
    const publisher = (id: string) => {
      const p = new PushPublisher({ clock }, { ...PUSH_TEST_PROFILE, host, port, record: { ...record, id } });
      stops.push(() => p.stop());
      return p;
    };
    const seen = (what: string, pred: (e: PushSubscriberEvent) => boolean) =>
      waitFor(what, () => events.find(pred), { timeoutMs: 5000, intervalMs: 5 });
    return { clock, sub, events, host, port, publisher, seen };
  };

  it('full record at once on connect, delta at once on change, full heartbeat every interval, down on stop', async () => {
    const { clock, events, publisher, seen } = await setup();
    const p = publisher('c1');
    await p.start();
    const up = await seen('up', (e) => e.type === 'up');
    expect(up).toMatchObject({ record: { id: 'c1', load: 1, capacity: 10, state: 'serving' } });
    p.update({ load: 7, state: 'draining' }); // no clock movement: the delta goes out immediately
    await seen('changed', (e) => e.type === 'changed');
    expect(events.at(-1)).toMatchObject({ type: 'changed', record: { load: 7, state: 'draining' } });
    for (let i = 0; i < 3; i++) await clock.advanceAsync(PUSH_TEST_PROFILE.heartbeatMs);
    await waitFor('3 heartbeats', () => events.filter((e) => e.type === 'heartbeat').length === 3);
    await p.stop();
    await seen('down', (e) => e.type === 'down');
    expect(events.some((e) => e.type === 'failed')).toBe(false);
  });

  it('a publisher silent past the deadline is reported failed once, and its connection closed', async () => {
    const { clock, sub, events, host, port, seen } = await setup();
    // a raw client that sends one heartbeat and then nothing (a hung container)
    const sock = net.connect({ host, port });
    await new Promise((r) => sock.once('connect', r));
    const closed = new Promise((r) => sock.once('close', r));
    sock.on('error', () => undefined);
    sock.write(
      encodeFrame({
        v: 1,
        k: 'hb',
        seq: 0,
        record: { ...record, region: 'default', state: 'serving', meta: {} },
      }),
    );
    await seen('up', (e) => e.type === 'up');
    await clock.advanceAsync(PUSH_TEST_PROFILE.deadlineMs);
    expect(events.some((e) => e.type === 'failed')).toBe(false); // at the deadline, not yet past it
    await clock.advanceAsync(PUSH_TEST_PROFILE.deadlineMs / 2);
    const failed = await seen('failed', (e) => e.type === 'failed');
    expect(failed).toMatchObject({ record: { id: 'c1' } });
    expect((failed as { reason: string }).reason).toMatch(/silent/);
    await closed;
    expect(events.filter((e) => e.type === 'failed')).toHaveLength(1);
    expect(sub.records()).toEqual([]);
  });

  it('garbage on one connection: typed, counted error, that connection closed, other publishers unaffected', async () => {
    const { sub, events, host, port, publisher, seen } = await setup();
    const good = publisher('good');
    await good.start();
    await seen('good up', (e) => e.type === 'up');
    const garbage: Array<[string, Buffer]> = [
      ['REG_ERR_BAD_FRAME', Buffer.from('GET / HTTP/1.1\r\n\r\n')], // length field reads as ~1.2 GB
      ['REG_ERR_BAD_MESSAGE', Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from([0xc1, 0xc1, 0xc1])])], // not msgpack
      ['REG_ERR_BAD_MESSAGE', encodeFrame({ v: 1, k: 'delta', seq: 0, patch: { load: 1 } })], // delta before heartbeat
      [
        'REG_ERR_BAD_MESSAGE',
        encodeFrame({
          v: 1,
          k: 'hb',
          seq: 0,
          record: { ...record, region: 'default', state: 'serving', meta: { x: 'y'.repeat(10_000) } },
        }),
      ],
    ];
    for (const [code, bytes] of garbage) {
      const before = events.length;
      const sock = net.connect({ host, port });
      sock.on('error', () => undefined);
      const closed = new Promise((r) => sock.once('close', r));
      await new Promise((r) => sock.once('connect', r));
      sock.write(bytes);
      await closed; // the subscriber hangs up on garbage
      await waitFor(`error ${code}`, () => events.slice(before).find((e) => e.type === 'error'));
      const err = events.slice(before).find((e) => e.type === 'error') as { error: { code: string } };
      expect(err.error.code).toBe(code);
    }
    expect(sub.errors.snapshot()).toEqual({ REG_ERR_BAD_FRAME: 1, REG_ERR_BAD_MESSAGE: 3 });
    // the good publisher's state is intact and its channel still works
    expect(sub.records().map((r) => r.id)).toEqual(['good']);
    good.update({ load: 3 });
    await seen('good changed', (e) => e.type === 'changed' && e.record.id === 'good' && e.record.load === 3);
  });

  it('a publisher whose connection drops is failed at once, and redials with a full heartbeat', async () => {
    const { clock, sub, events, publisher, seen } = await setup();
    const p = publisher('c1');
    await p.start();
    await seen('up', (e) => e.type === 'up');
    // the subscriber side drops every connection (e.g. a network blip)
    (sub as unknown as { peers: Map<net.Socket, unknown> }).peers.forEach((_, s) => s.destroy());
    await seen('failed', (e) => e.type === 'failed');
    await waitFor('publisher notices', () => !p.isConnected);
    await clock.advanceAsync(PUSH_TEST_PROFILE.reconnectMs);
    await waitFor('second up', () => events.filter((e) => e.type === 'up').length === 2);
  });
});

describe('push publisher with a handshake (real TCP, manual clock)', () => {
  const HS_HOST = '127.0.42.7';
  const OPENING = Buffer.from('HELLO\n');
  /** Accepts on "OK\n" (bytes after it are `rest`), refuses on "NO\n". */
  const handshake: PushHandshake = {
    opening: () => OPENING,
    answer: (received) => {
      if (received.length < 3) return undefined;
      const head = received.subarray(0, 3).toString();
      if (head === 'OK\n') return { accepted: true, rest: received.subarray(3) };
      if (head === 'NO\n') return { accepted: false, error: new Error('refused by the test server') };
      throw new Error(`garbage answer ${head}`);
    },
  };
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  /** A server that reads the opening, then answers each connection with answers[i] (split in two writes). */
  const server = async (answers: string[]) => {
    const conns: Array<{ opening: string; msgs: PushMessage[] }> = [];
    const srv = net.createServer((sock) => {
      const entry = { opening: '', msgs: [] as PushMessage[] };
      conns.push(entry);
      const answer = answers[Math.min(conns.length - 1, answers.length - 1)]!;
      const dec = new FrameDecoder(65536);
      sock.on('error', () => undefined);
      sock.on('data', (c: Buffer) => {
        if (entry.opening.length < OPENING.length) {
          const take = OPENING.length - entry.opening.length;
          entry.opening += c.subarray(0, take).toString();
          c = c.subarray(take);
          if (entry.opening.length === OPENING.length) {
            // the answer arrives in two reads: the publisher must wait for all of it
            sock.write(answer.slice(0, 1));
            setImmediate(() => sock.write(answer.slice(1)));
          }
        }
        for (const b of dec.push(c)) entry.msgs.push(decodeMessage(b, DEFAULT_LIMITS));
      });
    });
    await new Promise<void>((r) => srv.listen(0, HS_HOST, () => r()));
    closers.push(() => new Promise<void>((r) => srv.close(() => r())));
    return { conns, port: (srv.address() as net.AddressInfo).port };
  };

  const publisher = (port: number, clock: ManualClock) => {
    const p = new PushPublisher(
      { clock },
      { ...PUSH_TEST_PROFILE, host: HS_HOST, port, record: { ...record, id: 'h1' }, handshake },
    );
    const events: PushPublisherEvent[] = [];
    p.on((e) => events.push(e));
    closers.push(() => p.stop());
    return { p, events };
  };

  it('sends the opening and the full record first, counts as connected only once accepted', async () => {
    const s = await server(['OK\nextra bytes the publisher ignores']);
    const clock = new ManualClock();
    const { p, events } = publisher(s.port, clock);
    p.update({ load: 2 }); // before any connection: carried by the next full record
    await p.start();
    await waitFor('accepted', () => p.isConnected);
    expect(s.conns[0]!.opening).toBe('HELLO\n');
    // the record sent with the opening, then one more once accepted (covers changes made meanwhile)
    await waitFor('two records', () => s.conns[0]!.msgs.length === 2);
    expect(s.conns[0]!.msgs.map((m) => m.k)).toEqual(['hb', 'hb']);
    expect(s.conns[0]!.msgs[0]).toMatchObject({ record: { id: 'h1', load: 2 } });
    p.update({ load: 5 });
    await clock.advanceAsync(PUSH_TEST_PROFILE.heartbeatMs);
    await waitFor('delta and heartbeat', () => s.conns[0]!.msgs.length === 4);
    expect(s.conns[0]!.msgs.slice(2)).toMatchObject([{ k: 'delta', patch: { load: 5 } }, { k: 'hb' }]);
    expect(events).toEqual([{ type: 'connected' }]);
    await p.stop();
    await waitFor('bye', () => s.conns[0]!.msgs.at(-1)?.k === 'bye');
  });

  it('a refusal is reported, sends nothing more, and the publisher redials on the clock until accepted', async () => {
    const s = await server(['NO\n', 'OK\n']);
    const clock = new ManualClock();
    const { p, events } = publisher(s.port, clock);
    await p.start();
    await waitFor('refused', () => events.find((e) => e.type === 'refused'));
    expect(p.isConnected).toBe(false);
    const refused = events.find((e) => e.type === 'refused') as { error: Error };
    expect(refused.error.message).toBe('refused by the test server');
    await clock.advanceAsync(PUSH_TEST_PROFILE.heartbeatMs); // no heartbeat goes to a refused connection
    expect(s.conns[0]!.msgs.map((m) => m.k)).toEqual(['hb']);
    await waitFor('redialed and accepted', async () => {
      await clock.advanceAsync(PUSH_TEST_PROFILE.reconnectMs);
      return p.isConnected;
    });
    expect(s.conns.length).toBe(2);
    expect(events.filter((e) => e.type === 'connected')).toHaveLength(1);
  });

  it('an answer the handshake cannot read is a refusal with its error', async () => {
    const s = await server(['??\n']);
    const clock = new ManualClock();
    const { p, events } = publisher(s.port, clock);
    await p.start();
    await waitFor('refused', () => events.find((e) => e.type === 'refused'));
    expect((events.find((e) => e.type === 'refused') as { error: Error }).error.message).toBe(
      'garbage answer ??\n',
    );
    expect(p.isConnected).toBe(false);
  });
});

describe('push channel: config', () => {
  it('throws a ConfigError naming the first bad field of a subscriber or publisher init', () => {
    const clock = new ManualClock();
    const sub = (init: object) => configError(() => new PushSubscriber({ clock }, init)).field;
    expect(sub({ port: 70_000 })).toBe('port');
    expect(sub({ port: -1 })).toBe('port');
    expect(sub({ deadlineMs: 0 })).toBe('deadlineMs');
    expect(sub({ maxFrameBytes: 1.5 })).toBe('maxFrameBytes');
    expect(sub({ limits: { maxMetaEntries: 0 } })).toBe('limits.maxMetaEntries');
    const ok = { host: '127.0.0.1', port: 9, record };
    const pub = (init: object) =>
      configError(() => new PushPublisher({ clock }, { ...ok, ...init } as typeof ok)).field;
    expect(pub({ port: 0 })).toBe('port');
    expect(pub({ heartbeatMs: 1.5 })).toBe('heartbeatMs');
    expect(pub({ reconnectMs: '50' })).toBe('reconnectMs');
    expect(pub({ limits: { maxMetaBytes: -1 } })).toBe('limits.maxMetaBytes');
    expect(() => new PushPublisher({ clock }, ok)).not.toThrow();
    expect(() => new PushSubscriber({ clock }, { ...PUSH_TEST_PROFILE, port: 0 })).not.toThrow();
  });
});
