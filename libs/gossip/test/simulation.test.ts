/**
 * Simulation tests: 200 members on the in-memory network, one ManualClock, one seed: reproducible. A "round" is one
 * probe interval (1 s with the LAN defaults used here).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { GOSSIP_LAN_DEFAULTS, MsgType, SimulatedCluster, type GossipEvent } from '../src/index.js';

const N = 200;
const ROUND = GOSSIP_LAN_DEFAULTS.probeIntervalMs;
/** Documented bound (README): with 10% loss, a new ownership event reaches every member within 3 rounds. */
const LOSSY_BOUND_ROUNDS = 3;
/** Documented bound (README): a crashed member is dead everywhere within probeInterval × (suspicionMult·log10 N + 10). */
const DEAD_BOUND_MS = ROUND * (GOSSIP_LAN_DEFAULTS.suspicionMult * Math.log10(N) + 10);

describe(`simulation: ${N} members`, () => {
  let c: SimulatedCluster;

  beforeAll(async () => {
    c = await SimulatedCluster.create({ size: N, seed: 42 });
    const joined = c.runUntil(() => c.membershipConverged(), 60 * ROUND, 100);
    expect(joined, 'all members joined through the seed').toBeDefined();
    c.advance(5 * ROUND);
  });

  it('a new ownership event reaches all members within 2 rounds with no loss', () => {
    for (let k = 0; k < 10; k++) {
      const owner = c.nodes[(k * 17) % N]!;
      owner.claim(`clean-${k}`, 1);
      const ms = c.runUntil(
        () => c.nodes.every((n) => n.owner(`clean-${k}`)?.owner === owner.id),
        10 * ROUND,
        5,
      );
      expect(ms, `claim ${k}`).toBeDefined();
      expect(ms!).toBeLessThanOrEqual(2 * ROUND);
    }
  });

  it(`with 10% loss (plus 5% duplication and reordering), within ${LOSSY_BOUND_ROUNDS} rounds`, () => {
    c.network.setDefaultLink({ loss: 0.1, duplicate: 0.05, jitterMs: 20 });
    try {
      let worst = 0;
      for (let k = 0; k < 30; k++) {
        const owner = c.nodes[(k * 7) % N]!;
        owner.claim(`lossy-${k}`, 1);
        const ms = c.runUntil(
          () => c.nodes.every((n) => n.owner(`lossy-${k}`)?.owner === owner.id),
          60 * ROUND,
          5,
        );
        expect(ms, `claim ${k}`).toBeDefined();
        worst = Math.max(worst, ms!);
      }
      expect(worst).toBeLessThanOrEqual(LOSSY_BOUND_ROUNDS * ROUND);
      // close travels the same way
      c.nodes[3]!.claim('to-close', 1);
      c.advance(LOSSY_BOUND_ROUNDS * ROUND);
      c.nodes[3]!.close('to-close');
      const closed = c.runUntil(() => c.nodes.every((n) => n.owner('to-close') === undefined), 60 * ROUND, 5);
      expect(closed!).toBeLessThanOrEqual(LOSSY_BOUND_ROUNDS * ROUND);
    } finally {
      c.network.setDefaultLink({ loss: 0, duplicate: 0, jitterMs: 2 });
    }
    expect(c.network.stats.lost).toBeGreaterThan(0);
    expect(c.network.stats.duplicated).toBeGreaterThan(0);
  });

  it(`a killed member is declared dead by all within ${Math.round(DEAD_BOUND_MS)} ms and its sessions are reported orphaned`, async () => {
    c.advance(5 * ROUND);
    const victim = c.nodes[77]!;
    victim.claim('victim-session', 1);
    c.advance(2 * ROUND);
    const orphanedAt = new Set<string>();
    const offs = c.nodes.map((n) =>
      n.on((e: GossipEvent) => {
        if (e.type === 'sessions-orphaned' && e.host === victim.id && e.sessions.includes('victim-session'))
          orphanedAt.add(n.id);
      }),
    );
    await c.kill(77);
    const ms = c.runUntil(
      () => c.running().every((n) => n.memberStatus(victim.id) === 'dead'),
      10 * DEAD_BOUND_MS,
      100,
    );
    offs.forEach((off) => off());
    expect(ms).toBeDefined();
    expect(ms!).toBeLessThanOrEqual(DEAD_BOUND_MS);
    expect(orphanedAt.size).toBe(N - 1);
    expect(c.nodes[0]!.owner('victim-session')).toMatchObject({ owner: victim.id, ownerStatus: 'dead' });
    // the application re-homes it with a new epoch; every member follows
    c.nodes[5]!.claim('victim-session', 2);
    const moved = c.runUntil(
      () => c.running().every((n) => n.owner('victim-session')?.owner === c.nodes[5]!.id),
      10 * ROUND,
      5,
    );
    expect(moved!).toBeLessThanOrEqual(2 * ROUND);
  });

  it('a graceful leave is seen by all at once, and nobody reports it dead', () => {
    const leaver = c.nodes[150]!;
    const deaths: string[] = [];
    const offs = c.nodes.map((n) =>
      n.on((e) => e.type === 'member-dead' && e.member.id === leaver.id && deaths.push(n.id)),
    );
    void leaver.leave();
    const ms = c.runUntil(
      () => c.running().every((n) => n === leaver || n.memberStatus(leaver.id) === 'left'),
      10 * ROUND,
      5,
    );
    c.advance(30 * ROUND);
    offs.forEach((off) => off());
    expect(ms!).toBeLessThanOrEqual(ROUND);
    expect(deaths).toEqual([]);
  });

  it('is reproducible: the same seed gives the same run', async () => {
    const run = async () => {
      const s = await SimulatedCluster.create({ size: 30, seed: 9, link: { loss: 0.05, jitterMs: 10 } });
      s.advance(20 * ROUND);
      s.nodes[4]!.claim('x', 1);
      s.advance(5 * ROUND);
      return {
        stats: { ...s.network.stats },
        digest: s.nodes[0]!.ownershipDigest(),
        inc: s.nodes.map((n) => n.incarnation),
      };
    };
    expect(await run()).toEqual(await run());
  });
});

describe('simulation: transports and dissemination modes', () => {
  it('multicast network: one datagram per new event, everyone has it at once', async () => {
    const c = await SimulatedCluster.create({ size: 50, seed: 3, multicast: true });
    expect(c.runUntil(() => c.membershipConverged(), 60 * ROUND, 100)).toBeDefined();
    c.advance(5 * ROUND);
    const before = c.nodes[8]!.stats().sent.multicast;
    c.nodes[8]!.claim('mc', 4);
    const ms = c.runUntil(() => c.nodes.every((n) => n.owner('mc')?.epoch === 4), 10 * ROUND, 1);
    expect(ms!).toBeLessThanOrEqual(5);
    expect(c.nodes[8]!.stats().sent.multicast - before).toBe(1);
  });

  it('classic SWIM mode (broadcastNewEvents off) still converges, by gossip only, within 2 rounds', async () => {
    const c = await SimulatedCluster.create({ size: 100, seed: 4, config: { broadcastNewEvents: false } });
    expect(c.runUntil(() => c.membershipConverged(), 60 * ROUND, 100)).toBeDefined();
    c.advance(5 * ROUND);
    c.nodes[1]!.claim('classic', 1);
    const ms = c.runUntil(
      () => c.nodes.every((n) => n.owner('classic')?.owner === c.nodes[1]!.id),
      10 * ROUND,
      5,
    );
    expect(ms).toBeDefined();
    expect(ms!).toBeGreaterThan(5);
    expect(ms!).toBeLessThanOrEqual(2 * ROUND);
  });
});

describe('simulation: anti-entropy', () => {
  it('the periodic full-state exchange repairs an event a member missed entirely', async () => {
    const c = await SimulatedCluster.create({ size: 20, seed: 8 });
    expect(c.runUntil(() => c.membershipConverged(), 60 * ROUND, 100)).toBeDefined();
    c.advance(5 * ROUND);
    const x = c.nodes[13]!;
    const others = c.nodes.filter((n) => n !== x);
    // cut x off for 3 rounds: shorter than the suspicion timeout (≥ 5.2 s at N = 20), longer than the event's gossip
    c.network.partition([others.map((n) => n.address), [x.address]]);
    c.nodes[2]!.claim('missed', 1);
    c.advance(3 * ROUND);
    c.network.heal();
    // which kind of datagram brings the event to x
    const carriers = new Set<number>();
    const needle = Buffer.from('missed');
    c.network.tap = (_from, to, bytes) => {
      if (to === x.address && Buffer.from(bytes).indexOf(needle) >= 0) carriers.add(bytes[1]!);
    };
    const repaired = c.runUntil(
      () => x.owner('missed')?.owner === c.nodes[2]!.id,
      2 * GOSSIP_LAN_DEFAULTS.pushPullIntervalMs,
      10,
    );
    c.network.tap = undefined;
    expect(repaired, 'repaired by push-pull').toBeDefined();
    // only full-state (push-pull) datagrams carried it: the gossip of the event was over before the heal
    expect([...carriers]).toEqual([MsgType.State]);
    expect(
      x.stats().state.pushPulls + others.reduce((a, n) => a + n.stats().state.pushPulls, 0),
    ).toBeGreaterThan(0);
    expect(c.nodes.every((n) => n.memberStatus(x.id) !== 'dead')).toBe(true);
  });
});
