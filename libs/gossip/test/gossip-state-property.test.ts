import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MsgType, type GossipEventMsg, type Message } from '../src/index.js';
import { makeState } from './helpers.js';

const T0 = 1_700_000_000_000;
const id = fc.constantFrom('a', 'b', 'c', 'd');
const nat = fc.integer({ min: 0, max: 5 });
const session = fc.constantFrom('s1', 's2', 's3');
const event: fc.Arbitrary<GossipEventMsg> = fc.oneof(
  fc.record({ kind: fc.constant('alive' as const), id, addr: id.map((x) => `${x}:1`), inc: nat }),
  fc.record({ kind: fc.constant('suspect' as const), id, inc: nat, from: id }),
  fc.record({ kind: fc.constant('dead' as const), id, inc: nat, from: id }),
  fc.record({ kind: fc.constant('left' as const), id, inc: nat }),
  fc.record({
    kind: fc.constantFrom('claim' as const, 'close' as const),
    session,
    owner: id,
    epoch: nat,
    version: nat,
  }),
);
const message: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ type: fc.constant(MsgType.Gossip), from: id, events: fc.array(event, { maxLength: 4 }) }),
  fc.record({
    type: fc.constant(MsgType.Ping),
    seq: nat,
    from: id,
    target: id,
    events: fc.array(event, { maxLength: 2 }),
  }),
  fc.record({
    type: fc.constant(MsgType.Ack),
    seq: nat,
    from: id,
    events: fc.array(event, { maxLength: 2 }),
  }),
  fc.record({
    type: fc.constant(MsgType.PingReq),
    seq: nat,
    from: id,
    target: id,
    targetAddr: id.map((x) => `${x}:1`),
    events: fc.array(event, { maxLength: 2 }),
  }),
  fc.record({
    type: fc.constant(MsgType.State),
    from: id,
    reply: fc.boolean(),
    join: fc.boolean(),
    members: fc.array(
      fc.record({
        id,
        addr: id.map((x) => `${x}:1`),
        inc: nat,
        status: fc.constantFrom('alive' as const, 'suspect' as const, 'dead' as const, 'left' as const),
      }),
      { maxLength: 4 },
    ),
    owners: fc.array(fc.record({ session, owner: id, epoch: nat, version: nat, closed: fc.boolean() }), {
      maxLength: 3,
    }),
  }),
);

describe('GossipState invariants under arbitrary valid message sequences (property)', () => {
  it('never throws; our own incarnation never decreases; we never consider ourselves down; ownership only moves up the order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(message, fc.integer({ min: 0, max: 3000 })), { maxLength: 40 }),
        (steps) => {
          const s = makeState('a', { seed: 5 });
          s.start(T0);
          let now = T0;
          let inc = s.incarnation;
          const seen = new Map<string, string>();
          for (const [msg, dt] of steps) {
            now += dt;
            s.handle(msg, `${msg.from}:1`, now);
            s.tick(now);
            expect(s.incarnation).toBeGreaterThanOrEqual(inc);
            inc = s.incarnation;
            expect(s.memberStatus('a')).toBe('alive');
            // an expired tombstone is forgotten: the order restarts for that session
            const present = new Set([...s.ownerEntries()].map((e) => e.session));
            for (const k of [...seen.keys()]) if (!present.has(k)) seen.delete(k);
            for (const e of s.ownerEntries()) {
              const key = `${e.epoch}.${e.version}`;
              const prev = seen.get(e.session);
              if (prev) {
                const [pe, pv] = prev.split('.').map(Number);
                expect(e.epoch > pe! || (e.epoch === pe && e.version >= pv!)).toBe(true);
              }
              seen.set(e.session, key);
            }
            expect(Number.isFinite(s.nextDeadline())).toBe(true);
            expect(s.nextDeadline()).toBeGreaterThan(now - 1);
          }
        },
      ),
      { numRuns: 400, seed: 6 },
    );
  });
});
