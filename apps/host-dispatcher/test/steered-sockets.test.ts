/**
 * Kernel steering in a worker, with real sockets on loopback: a connected socket bound to the service address gets
 * its peer's datagrams instead of the service socket; what it must not handle is bounced, never lost; idle ones
 * close (manual clock).
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, silentLogger } from '@switchyard/core';
import { HeldCounts, SteeredSockets, STEERING_TEST_PROFILE, type SteeredPeer } from '../src/index.js';
import { invite } from './sip-fixtures.js';

const HOST = '127.0.93.1';
const PEER_HOST = '127.0.93.2';
const open: dgram.Socket[] = [];

async function udp(host: string, reuseAddr = false, port = 0): Promise<dgram.Socket> {
  const s = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', reuseAddr });
  await new Promise<void>((r) => s.bind(port, host, () => r()));
  open.push(s);
  return s;
}

async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function setup(host = HOST, peerHost = PEER_HOST) {
  const service = await udp(host, true);
  const port = service.address().port;
  const atService: string[] = [];
  service.on('message', (m) => atService.push(callIdOf(m)));
  const clock = new ManualClock();
  const held = new HeldCounts();
  const delivered: string[] = [];
  const bounced: { callId: string; undelegated: boolean; from: number }[] = [];
  const reports: string[] = [];
  const steered = new SteeredSockets(
    {
      clock,
      logger: silentLogger,
      locals: () => [{ address: host, port }],
      held,
      deliver: (m) => delivered.push(callIdOf(m)),
      bounce: (m, p, undelegated) => bounced.push({ callId: callIdOf(m), undelegated, from: p.port }),
      report: (p, gen, e) => reports.push(e.ok ? `up ${gen}` : `${e.reason} ${gen}`),
    },
    { ...STEERING_TEST_PROFILE, maxSockets: 2, maxMessageBytes: 16384 },
  );
  const peer = await udp(peerHost);
  const p: SteeredPeer = { local: 0, address: peerHost, port: peer.address().port };
  const send = (s: dgram.Socket, b: Buffer) => s.send(b, port, host);
  return { service, port, atService, clock, held, delivered, bounced, reports, steered, peer, p, send };
}

function callIdOf(m: Buffer): string {
  return /Call-ID: (\S+)/.exec(m.toString('latin1'))![1]!;
}

afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

describe('SteeredSockets', () => {
  it("takes the peer's datagrams off the service socket once connected, and gives them back when closed", async () => {
    const t = await setup();
    t.held.opened('c1', 'conf-a');
    t.steered.steer(t.p, 1);
    await until('connected', () => t.steered.connected(t.p));
    expect(t.reports).toEqual(['up 1']);
    for (let i = 0; i < 5; i++)
      t.send(t.peer, invite({ method: 'OPTIONS', conf: 'conf-a', callId: `o${i}` }));
    await until('5 delivered', () => t.delivered.length === 5);
    expect(t.atService).toEqual([]);
    // another peer is not affected
    const other = await udp(PEER_HOST);
    t.send(other, invite({ method: 'OPTIONS', conf: 'conf-a', callId: 'other' }));
    await until('at the service socket', () => t.atService.length === 1);
    t.steered.unsteer(t.p, 1);
    // closing drains the socket's queue first (what is sent meanwhile is bounced to the primary, see below)
    await until('drained', () => t.steered.drainingCount === 0);
    t.send(t.peer, invite({ method: 'OPTIONS', conf: 'conf-a', callId: 'after' }));
    await until('back at the service socket', () => t.atService.length === 2);
    expect(t.delivered).toHaveLength(5);
  });

  it('bounces a new INVITE (admission is the primary’s) but keeps the socket; undelegates on another conference', async () => {
    const t = await setup();
    t.held.opened('c1', 'conf-a');
    t.steered.steer(t.p, 1);
    await until('connected', () => t.steered.connected(t.p));
    t.send(t.peer, invite({ conf: 'conf-a', callId: 'new-call' }));
    await until('bounced', () => t.bounced.length === 1);
    expect(t.bounced[0]).toMatchObject({ callId: 'new-call', undelegated: false });
    // an in-dialog request of a held dialog is handled here whatever its Request-URI
    t.send(t.peer, invite({ method: 'BYE', conf: 'contact', callId: 'c1', toTag: 't', cseq: 2 }));
    await until('delivered', () => t.delivered.length === 1);
    t.send(t.peer, invite({ method: 'OPTIONS', conf: 'conf-b', callId: 'b1' }));
    await until('bounced and closed', () => t.bounced.length === 2 && !t.steered.connected(t.p));
    expect(t.bounced[1]).toMatchObject({ callId: 'b1', undelegated: true });
    expect(t.steered.counters).toEqual({ local: 1, bounced: 2, undelegated: 1, drained: 0 });
    // a bounce close is reported by the bounce frame itself
    expect(t.reports).toEqual(['up 1']);
    await until('drained', () => t.steered.drainingCount === 0);
    t.send(t.peer, invite({ method: 'OPTIONS', conf: 'conf-a', callId: 'after' }));
    await until('back at the service socket', () => t.atService.length === 1);
  });

  it('bounces, never loses, what reaches the fresh socket before connect(), from any peer', async () => {
    const t = await setup();
    t.held.opened('c1', 'conf-a');
    // a bound, not yet connected socket on the service port (what steer() has between bind and connect): the
    // kernel gives it datagrams of any peer (the newest unconnected socket wins)
    t.steered.steer(t.p, 1);
    const other = await udp(PEER_HOST);
    // sent at once: they reach either the service socket or the fresh one, which bounces them
    for (let i = 0; i < 20; i++)
      t.send(other, invite({ method: 'OPTIONS', conf: 'conf-a', callId: `x${i}` }));
    await until('all 20 accounted for', () => t.atService.length + t.bounced.length === 20);
    expect(t.bounced.every((b) => !b.undelegated && b.from === other.address().port)).toBe(true);
    expect(t.delivered).toEqual([]);
  });

  it('closes a connected socket idle for idleMs (manual clock) and refuses past its cap', async () => {
    const t = await setup();
    t.held.opened('c1', 'conf-a');
    t.steered.steer(t.p, 1);
    await until('connected', () => t.steered.connected(t.p));
    const second = await udp(PEER_HOST);
    const third = await udp(PEER_HOST);
    t.steered.steer({ local: 0, address: PEER_HOST, port: second.address().port }, 2);
    t.steered.steer({ local: 0, address: PEER_HOST, port: third.address().port }, 3);
    await until('reports', () => t.reports.length === 3);
    expect([...t.reports].sort()).toEqual(['refused 3', 'up 1', 'up 2']);
    t.clock.advance(STEERING_TEST_PROFILE.idleMs / 2);
    t.send(t.peer, invite({ method: 'OPTIONS', conf: 'conf-a', callId: 'keep' }));
    await until('delivered', () => t.delivered.length === 1);
    t.clock.advance(STEERING_TEST_PROFILE.idleMs / 2 + STEERING_TEST_PROFILE.idleSweepMs);
    // the second one was silent for idleMs: closed; the first one was used half-way: kept
    expect(t.reports).toContain('idle 2');
    expect(t.steered.connected(t.p)).toBe(true);
    expect(t.steered.size).toBe(1);
  });

  it('loses nothing across a revoke: the queued datagrams drain to the primary before the socket closes', async () => {
    const t = await setup();
    t.held.opened('c1', 'conf-a');
    t.steered.steer(t.p, 1);
    await until('connected', () => t.steered.connected(t.p));
    const n = 100; // about 1.3 kB of receive buffer each: well inside the default 208 kB, no kernel drop
    const sent = Array.from({ length: n }, (_, i) => `q${i}`);
    // revoke from inside the first delivery: the sends all happened before the first read, so the rest of the
    // burst is still queued in the connected socket (in this read batch and in the kernel)
    let revoked = false;
    const deliver = t.delivered.push.bind(t.delivered);
    t.delivered.push = (...ids: string[]) => {
      if (!revoked) {
        revoked = true;
        t.steered.unsteer(t.p, 1);
      }
      return deliver(...ids);
    };
    for (const id of sent) t.send(t.peer, invite({ method: 'OPTIONS', conf: 'conf-a', callId: id }));
    await until(
      `all ${n} accounted for`,
      () => t.delivered.length + t.bounced.length + t.atService.length >= n && t.steered.drainingCount === 0,
    );
    const got = [...t.delivered, ...t.bounced.map((b) => b.callId), ...t.atService];
    expect(got.sort()).toEqual([...sent].sort());
    expect(revoked).toBe(true);
    // the drain path carried the queue (what a plain close() would have thrown away)
    expect(t.steered.counters.drained).toBeGreaterThan(0);
    expect(t.bounced.every((b) => !b.undelegated)).toBe(true);
    expect(t.steered.size).toBe(0);
    t.send(t.peer, invite({ method: 'OPTIONS', conf: 'conf-a', callId: 'after' }));
    await until('back at the service socket', () => t.atService.includes('after'));
  });

  it('drains an idle close too, and refuses a wildcard service address', async () => {
    const t = await setup();
    t.held.opened('c1', 'conf-a');
    t.steered.steer(t.p, 1);
    await until('connected', () => t.steered.connected(t.p));
    t.clock.advance(STEERING_TEST_PROFILE.idleMs + STEERING_TEST_PROFILE.idleSweepMs);
    expect(t.reports).toEqual(['up 1', 'idle 1']);
    await until('drained and closed', () => t.steered.drainingCount === 0);
    t.send(t.peer, invite({ method: 'OPTIONS', conf: 'conf-a', callId: 'after' }));
    await until('back at the service socket', () => t.atService.includes('after'));

    const reports: string[] = [];
    const wild = new SteeredSockets({
      clock: t.clock,
      logger: silentLogger,
      locals: () => [{ address: '0.0.0.0', port: t.port }],
      held: t.held,
      deliver: () => undefined,
      bounce: () => undefined,
      report: (_p, gen, e) => reports.push(e.ok ? `up ${gen}` : `${e.reason} ${gen}`),
    });
    wild.steer(t.p, 9);
    expect(reports).toEqual(['refused 9']);
    expect(wild.size).toBe(0);
  });

  it('steers an IPv6 peer on ::1 the same way', async () => {
    const t = await setup('::1', '::1');
    t.held.opened('c1', 'conf-a');
    t.steered.steer(t.p, 1);
    await until('connected', () => t.steered.connected(t.p));
    for (let i = 0; i < 3; i++)
      t.send(t.peer, invite({ method: 'OPTIONS', conf: 'conf-a', callId: `v${i}` }));
    await until('3 delivered', () => t.delivered.length === 3);
    expect(t.atService).toEqual([]);
    t.steered.unsteer(t.p, 1);
    await until('drained', () => t.steered.drainingCount === 0);
    t.send(t.peer, invite({ method: 'OPTIONS', conf: 'conf-a', callId: 'after' }));
    await until('back at the service socket', () => t.atService.includes('after'));
    expect(t.delivered).toHaveLength(3);
  });
});
