import { describe, expect, it } from 'vitest';
import { GOSSIP_LAN_DEFAULTS, GossipError, MsgType, type Message } from '../src/index.js';
import { broadcasts, events, makeState, sends } from './helpers.js';

const T0 = 1_700_000_000_000;
const alive = (id: string, inc = 0) => ({ kind: 'alive' as const, id, addr: `${id}:1`, inc });
const gossip = (from: string, ...evs: Extract<Message, { type: 4 }>['events']): Message => ({
  type: MsgType.Gossip,
  from,
  events: evs,
});

/** A state that knows `others` as alive (learned by gossip). */
function withMembers(id: string, others: string[]) {
  const s = makeState(id);
  s.start(T0);
  s.handle(gossip(others[0]!, ...others.map((o) => alive(o))), `${others[0]}:1`, T0);
  return s;
}

/** Ticks every ms from `from` to `to` (inclusive), collecting actions. */
function runTicks(s: ReturnType<typeof makeState>, from: number, to: number) {
  const all = [];
  for (let t = from; t <= to; t++) if (s.nextDeadline() <= t) all.push(...s.tick(t));
  return all;
}

describe('GossipState membership', () => {
  it('joins by pushing its state to each seed with the reply flag', () => {
    const s = makeState('a', { seeds: ['b:1', 'c:1', 'a:1'] });
    const out = s.start(T0);
    const to = sends(out).map((x) =>
      x.type === 'send' ? [x.to, x.msg.type, (x.msg as { reply: boolean }).reply] : [],
    );
    expect(to).toEqual([
      ['b:1', MsgType.State, true],
      ['c:1', MsgType.State, true],
    ]);
  });

  it('answers a ping addressed to it with an ack of the same seq, and ignores a misdirected one', () => {
    const s = withMembers('a', ['b']);
    const out = s.handle({ type: MsgType.Ping, seq: 42, from: 'b', target: 'a', events: [] }, 'b:1', T0 + 1);
    expect(sends(out)).toMatchObject([{ to: 'b:1', msg: { type: MsgType.Ack, seq: 42, from: 'a' } }]);
    const out2 = s.handle(
      { type: MsgType.Ping, seq: 43, from: 'b', target: 'zz', events: [] },
      'b:1',
      T0 + 1,
    );
    expect(sends(out2)).toEqual([]);
    expect(s.counters.misdirectedPings).toBe(1);
  });

  it('relays a ping-req and forwards the ack with the original seq', () => {
    const s = withMembers('a', ['b', 'c']);
    const out = s.handle(
      { type: MsgType.PingReq, seq: 9, from: 'b', target: 'c', targetAddr: 'c:1', events: [] },
      'b:1',
      T0,
    );
    const ping = sends(out)[0]!;
    expect(ping).toMatchObject({ to: 'c:1', msg: { type: MsgType.Ping, target: 'c' } });
    const relaySeq = (ping as { msg: { seq: number } }).msg.seq;
    const out2 = s.handle({ type: MsgType.Ack, seq: relaySeq, from: 'c', events: [] }, 'c:1', T0 + 2);
    expect(sends(out2)).toMatchObject([{ to: 'b:1', msg: { type: MsgType.Ack, seq: 9 } }]);
  });

  it('probes, asks k others after the probe timeout, and suspects at the end of the period', () => {
    const s = withMembers('a', ['b', 'c', 'd', 'e']);
    const start = s.nextDeadline();
    const first = s.tick(start);
    const ping = sends(first).find((x) => x.type === 'send' && x.msg.type === MsgType.Ping)!;
    expect(ping).toBeDefined();
    const target = (ping as { msg: { target: string } }).msg.target;
    const out = runTicks(s, start + 1, start + GOSSIP_LAN_DEFAULTS.probeTimeoutMs);
    const reqs = sends(out).filter((x) => x.type === 'send' && x.msg.type === MsgType.PingReq);
    expect(reqs).toHaveLength(3);
    expect(reqs.every((r) => r.type === 'send' && r.to !== `${target}:1`)).toBe(true);
    const out2 = runTicks(
      s,
      start + GOSSIP_LAN_DEFAULTS.probeTimeoutMs + 1,
      start + GOSSIP_LAN_DEFAULTS.probeIntervalMs,
    );
    expect(events(out2)).toContainEqual({
      type: 'member-suspect',
      member: { id: target, addr: `${target}:1`, inc: 0, status: 'suspect' },
    });
    // a suspicion spreads by gossip at once (fan-out), not by a send to every member
    expect(broadcasts(out2)).toEqual([]);
    const gossiped = sends(out2).filter(
      (x) =>
        x.type === 'send' &&
        x.msg.type === MsgType.Gossip &&
        x.msg.events.some((e) => e.kind === 'suspect' && e.id === target),
    );
    expect(gossiped).toHaveLength(3);
    expect(s.memberStatus(target)).toBe('suspect');
    expect(s.healthScore).toBe(1);
  });

  it('an ack within the period keeps the target alive', () => {
    const s = withMembers('a', ['b']);
    const t = s.nextDeadline();
    const ping = sends(s.tick(t))[0] as { msg: { seq: number } };
    s.handle({ type: MsgType.Ack, seq: ping.msg.seq, from: 'b', events: [] }, 'b:1', t + 3);
    const out = runTicks(s, t + 1, t + GOSSIP_LAN_DEFAULTS.probeIntervalMs);
    expect(events(out).filter((e) => e.type === 'member-suspect')).toEqual([]);
    expect(s.memberStatus('b')).toBe('alive');
  });

  it('refutes a suspicion about itself with a higher incarnation, broadcast at once', () => {
    const s = withMembers('a', ['b']);
    const out = s.handle(gossip('b', { kind: 'suspect', id: 'a', inc: 0, from: 'b' }), 'b:1', T0 + 5);
    expect(s.incarnation).toBe(1);
    expect(events(out)).toContainEqual({ type: 'self-refuted', inc: 1 });
    expect(broadcasts(out)[0]).toMatchObject({ msg: { events: [{ kind: 'alive', id: 'a', inc: 1 }] } });
    // a dead rumour about an older incarnation is ignored
    const out2 = s.handle(gossip('b', { kind: 'dead', id: 'a', inc: 0, from: 'b' }), 'b:1', T0 + 6);
    expect(broadcasts(out2)).toEqual([]);
    expect(s.incarnation).toBe(1);
  });

  it('a higher-incarnation alive clears a suspicion; a lower one does not', () => {
    const s = withMembers('a', ['b', 'c']);
    s.handle(gossip('c', { kind: 'suspect', id: 'b', inc: 3, from: 'c' }), 'c:1', T0);
    expect(s.memberStatus('b')).toBe('suspect');
    s.handle(gossip('c', alive('b', 3)), 'c:1', T0 + 1);
    expect(s.memberStatus('b')).toBe('suspect');
    const out = s.handle(gossip('b', alive('b', 4)), 'b:1', T0 + 2);
    expect(s.memberStatus('b')).toBe('alive');
    expect(events(out)).toContainEqual({
      type: 'member-alive',
      member: { id: 'b', addr: 'b:1', inc: 4, status: 'alive' },
    });
  });

  it("declares dead when the suspicion times out, and reports the dead host's sessions as orphaned", () => {
    const s = withMembers('a', ['b', 'c']);
    s.handle(gossip('b', { kind: 'claim', session: 'conf-1', owner: 'b', epoch: 1, version: 1 }), 'b:1', T0);
    s.handle(gossip('c', { kind: 'suspect', id: 'b', inc: 0, from: 'c' }), 'c:1', T0);
    // 3 live members: k = 1, min = 4 × 1 × 1000 ms, max = 6 × min
    const all = runTicks(s, T0 + 1, T0 + 24_000);
    const dead = events(all).find((e) => e.type === 'member-dead');
    expect(dead).toBeDefined();
    expect(events(all)).toContainEqual({ type: 'sessions-orphaned', host: 'b', sessions: ['conf-1'] });
    expect(s.memberStatus('b')).toBe('dead');
  });

  it('independent confirmations shrink the suspicion timeout (Lifeguard)', () => {
    const deathAt = (confirm: boolean) => {
      const s = withMembers('a', ['b', 'c', 'd', 'e', 'f']);
      s.handle(gossip('c', { kind: 'suspect', id: 'b', inc: 0, from: 'c' }), 'c:1', T0);
      if (confirm) {
        s.handle(gossip('d', { kind: 'suspect', id: 'b', inc: 0, from: 'd' }), 'd:1', T0 + 10);
        s.handle(gossip('e', { kind: 'suspect', id: 'b', inc: 0, from: 'e' }), 'e:1', T0 + 10);
      }
      for (let t = T0; t < T0 + 200_000; t += 50) {
        // answer every probe (an ack does not clear a suspicion, only a refutation does): only confirmations decide
        for (const a of s.tick(t)) {
          if (a.type === 'send' && a.msg.type === MsgType.Ping) {
            s.handle({ type: MsgType.Ack, seq: a.msg.seq, from: a.msg.target, events: [] }, a.to, t);
          }
        }
        if (s.memberStatus('b') === 'dead') return t - T0;
      }
      return Infinity;
    };
    const lonely = deathAt(false);
    const confirmed = deathAt(true);
    expect(confirmed).toBeLessThan(lonely);
    // 6 members: min = 4 × max(1, log10 6) × 1 s = 4 s (reached with k = 2 confirmations); max = 6 × min = 24 s
    expect(confirmed).toBeGreaterThanOrEqual(4000);
    expect(confirmed).toBeLessThanOrEqual(4050);
    expect(lonely).toBeGreaterThanOrEqual(24_000);
    expect(lonely).toBeLessThanOrEqual(24_050);
  });

  it('a dead member comes back only with a higher incarnation', () => {
    const s = withMembers('a', ['b', 'c']);
    s.handle(gossip('c', { kind: 'dead', id: 'b', inc: 2, from: 'c' }), 'c:1', T0);
    expect(s.memberStatus('b')).toBe('dead');
    s.handle(gossip('c', alive('b', 2)), 'c:1', T0 + 1);
    expect(s.memberStatus('b')).toBe('dead');
    s.handle(gossip('b', alive('b', 3)), 'b:1', T0 + 2);
    expect(s.memberStatus('b')).toBe('alive');
  });

  it('leave goes out at once; others mark the member left and stop probing it', () => {
    const a = withMembers('a', ['b']);
    const out = a.leave(T0 + 1);
    expect(broadcasts(out)[0]).toMatchObject({ msg: { events: [{ kind: 'left', id: 'a', inc: 0 }] } });
    const b = withMembers('b', ['a']);
    const ev = events(b.handle((broadcasts(out)[0] as { msg: Message }).msg, 'a:1', T0 + 2));
    expect(ev).toContainEqual({
      type: 'member-left',
      member: { id: 'a', addr: 'a:1', inc: 0, status: 'left' },
    });
    const later = runTicks(b, T0 + 3, T0 + 5000);
    expect(sends(later).filter((x) => x.type === 'send' && x.msg.type === MsgType.Ping)).toEqual([]);
  });

  it('piggybacks a learned event on outgoing messages at most λ·log(N) times', () => {
    const s = withMembers('a', ['b']);
    // drain the join events first
    for (let i = 0; i < 50; i++)
      s.handle({ type: MsgType.Ping, seq: i, from: 'b', target: 'a', events: [] }, 'b:1', T0);
    s.handle(gossip('b', { kind: 'claim', session: 's1', owner: 'b', epoch: 1, version: 1 }), 'b:1', T0);
    let carried = 0;
    for (let i = 0; i < 50; i++) {
      const out = s.handle(
        { type: MsgType.Ping, seq: 100 + i, from: 'b', target: 'a', events: [] },
        'b:1',
        T0,
      );
      const ack = sends(out)[0] as { msg: { events: { kind: string }[] } };
      if (ack.msg.events.some((e) => e.kind === 'claim')) carried++;
    }
    // N = 2: λ × ceil(log10(3)) = 4 × 1
    expect(carried).toBe(4);
  });
});

describe('GossipState ownership', () => {
  it('claim broadcasts at once; re-claim at a higher epoch bumps; stale epochs are refused', () => {
    const s = withMembers('a', ['b']);
    const out = s.claim('conf-1', 5, T0);
    expect(broadcasts(out)[0]).toMatchObject({
      msg: { events: [{ kind: 'claim', session: 'conf-1', owner: 'a', epoch: 5, version: 1 }] },
    });
    expect(events(out)[0]).toMatchObject({ type: 'owner-changed', session: 'conf-1', previous: null });
    expect(() => s.claim('conf-1', 4, T0)).toThrow(GossipError);
    try {
      s.claim('conf-1', 4, T0);
    } catch (err) {
      expect((err as GossipError).code).toBe('GSP_ERR_STALE_CLAIM');
    }
    expect(broadcasts(s.claim('conf-1', 5, T0))).toEqual([]); // already ours at that epoch
    s.claim('conf-1', 6, T0);
    expect(s.owner('conf-1')).toMatchObject({ epoch: 6, version: 1 });
  });

  it('close writes a tombstone that expires; only the owner may close', () => {
    const s = withMembers('a', ['b']);
    s.handle(gossip('b', { kind: 'claim', session: 'x', owner: 'b', epoch: 1, version: 1 }), 'b:1', T0);
    expect(() => s.close('x', T0)).toThrow(expect.objectContaining({ code: 'GSP_ERR_NOT_OWNER' }));
    s.claim('y', 1, T0);
    const out = s.close('y', T0 + 1);
    expect(broadcasts(out)[0]).toMatchObject({
      msg: { events: [{ kind: 'close', session: 'y', version: 2 }] },
    });
    expect(events(out)).toContainEqual(expect.objectContaining({ type: 'session-closed', session: 'y' }));
    // a late copy of the old claim cannot resurrect it while the tombstone lives
    s.handle(gossip('b', { kind: 'claim', session: 'y', owner: 'a', epoch: 1, version: 1 }), 'b:1', T0 + 2);
    expect(s.owner('y')?.closed).toBe(true);
    runTicks(s, T0 + 2, T0 + GOSSIP_LAN_DEFAULTS.tombstoneTtlMs + GOSSIP_LAN_DEFAULTS.probeIntervalMs + 10);
    expect(s.owner('y')).toBeUndefined();
  });

  it('a conflicting claim from another host resolves the same way on both hosts', () => {
    const a = withMembers('a', ['b']);
    const b = withMembers('b', ['a']);
    const ca = broadcasts(a.claim('s', 3, T0))[0] as { msg: Message };
    const cb = broadcasts(b.claim('s', 3, T0))[0] as { msg: Message };
    const evA = events(a.handle(cb.msg, 'b:1', T0 + 1));
    b.handle(ca.msg, 'a:1', T0 + 1);
    // same epoch and version: the lower host id wins everywhere
    expect(a.owner('s')?.owner).toBe('a');
    expect(b.owner('s')?.owner).toBe('a');
    expect(evA).toEqual([]);
    expect(a.ownershipDigest()).toBe(b.ownershipDigest());
  });

  it('full-state exchange is split into datagrams under the size bound and merges everything', () => {
    const a = withMembers('a', ['b']);
    for (let i = 0; i < 300; i++) a.claim(`session-with-a-long-name-${i}`, 1, T0);
    const b = makeState('b');
    b.start(T0);
    // b pushes with reply; a answers with its full state
    const out = a.handle(
      {
        type: MsgType.State,
        from: 'b',
        reply: true,
        join: true,
        members: [{ id: 'b', addr: 'b:1', inc: 0, status: 'alive' }],
        owners: [],
      },
      'b:1',
      T0 + 1,
    );
    const chunks = sends(out).filter((x) => x.type === 'send' && x.msg.type === MsgType.State);
    expect(chunks.length).toBeGreaterThan(5);
    for (const c of chunks) if (c.type === 'send') b.handle(c.msg, 'a:1', T0 + 2);
    expect(b.ownershipDigest()).toBe(a.ownershipDigest());
    expect(b.memberStatus('a')).toBe('alive');
  });
});
