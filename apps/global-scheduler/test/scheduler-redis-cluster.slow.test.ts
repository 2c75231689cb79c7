/**
 * Redis Cluster (issue 12 §4): the scheduler cluster suite, unchanged, on a real Redis Cluster of 3 masters and
 * 3 replicas on loopback (ioredis `Cluster`); then `kill -9` of the master holding the schedule's slot while
 * schedulers place: a replica is promoted, the clients follow, and lost / duplicated placements are counted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { ManualClock } from '@switchyard/core';
import { MemoryRegistryStore } from '@switchyard/registry';
import { redisCli, startRedisCluster, waitFor, type TestRedisCluster } from '@switchyard/testing';
import { Scheduler } from '../src/scheduler.js';
import { conference } from './requests.js';
import { SchedulerTestProfile } from '../src/settings.js';
import { RedisScheduleStore } from '../src/store/redis-schedule-store.js';
import { schedulerClusterSuite } from './scheduler-cluster.suite.js';

let cluster: TestRedisCluster;
let shared: Cluster;
const opened: Cluster[] = [];

function connect(): Cluster {
  const c = new Cluster([...cluster.seeds], {
    clusterRetryStrategy: () => 100,
    redisOptions: { maxRetriesPerRequest: 1 },
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    // ioredis refreshes its slot map only when told something moved; a dead master tells it nothing
    slotsRefreshInterval: 1000,
  });
  c.on('error', () => undefined); // node errors during the failover test are expected; commands report them
  opened.push(c);
  return c;
}

beforeAll(async () => {
  cluster = await startRedisCluster({ host: '127.0.0.1' });
  shared = connect();
}, 120_000);
afterAll(async () => {
  for (const c of opened) c.disconnect();
  await cluster?.stop();
});

schedulerClusterSuite('Redis Cluster (3 masters + 3 replicas)', { shared: () => shared, connect });

// without WAIT (asynchronous replication, the default) and with WAIT 1 after every placement script
describe.each([0, 1])('Redis Cluster failover mid-placement, waitReplicas %i', (waitReplicas) => {
  it('kill -9 of the schedule master: a replica takes over, placement resumes; none placed twice', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const registry = new MemoryRegistryStore({ clock });
    await registry.start();
    // a schedule slot whose master still has a replica (the run before killed one master: its promoted replica
    // has none left)
    let prefix = '';
    for (let k = 0; !prefix; k++) {
      if (k > 50) throw new Error('no master with a connected replica for the schedule slot');
      const p = `failover${waitReplicas}-${k}`;
      const m = await cluster.masterOf(`{${p}:sched}:conf`);
      if (/connected_slaves:[1-9]/.test(await redisCli(m.port, '127.0.0.1', 'info', 'replication')))
        prefix = p;
    }
    const schedulers = ['f1', 'f2', 'f3'].map(
      (id, i) =>
        new Scheduler(
          {
            store: new RedisScheduleStore({ redis: connect() }, { prefix, waitReplicas, waitTimeoutMs: 200 }),
            registry,
            clock,
          },
          { ...SchedulerTestProfile, id, address: `127.0.0.1:${i + 1}`, timers: false, placeBatch: 5 },
        ),
    );
    for (const s of schedulers) await s.start();
    const placements = new Map<string, number[]>();
    const master = await cluster.masterOf(`{${prefix}:sched}:conf`);
    let killed: Promise<void> | undefined;
    let ackedBeforeKill = 0;
    for (const s of schedulers)
      s.onPlacement((c, o) => {
        if (!o.ok) return;
        placements.set(c.id, [...(placements.get(c.id) ?? []), o.assignment.epoch]);
        // kill -9 the master in the middle of the placements, while scripts are in flight
        if (!killed && placements.size === 150) {
          ackedBeforeKill = placements.size;
          killed = master.kill9();
        }
      });
    for (let i = 0; i < 5; i++)
      await registry.put({
        id: `srv-${i}`,
        service: 'conference-server',
        address: `127.0.0.1:${7100 + i}`,
        region: 'eu',
        capacity: 1000,
        ttlMs: 3_600_000,
      });
    const store = new RedisScheduleStore({ redis: connect() }, { prefix });
    const N = 2000;
    for (let i = 0; i < N; i++) await store.create(conference(`f-${i}`, clock.now()));
    const round = async () => {
      await clock.advanceAsync(SchedulerTestProfile.roundIntervalMs);
      await Promise.all(schedulers.map((s) => s.runRound()));
    };
    await round(); // placing; the master dies a quarter of the way in
    await killed;
    expect(killed).toBeDefined();
    // the replica was promoted: another node now reports itself master of the schedule's slots
    // the other nodes mark it failed after cluster-node-timeout: poll, bounded
    const failed = new RegExp(`:${master.port}@\\d+ master,fail`);
    const other = cluster.nodes.find((x) => x !== master)!;
    await waitFor(
      `node ${master.port} marked master,fail by the cluster`,
      async () => failed.test(await redisCli(other.port, '127.0.0.1', 'cluster', 'nodes')),
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    // rounds keep running (aborting while the slot has no master) until the promoted replica serves it
    await waitFor(
      'the promoted replica to serve the schedule',
      async () => {
        await round();
        return (await store.counts().catch(() => undefined))?.placed === undefined ? undefined : true;
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    for (let r = 0; r < 200; r++) {
      const c = await store.counts().catch(() => undefined);
      if (c && c.placed + c.unplaceable >= N) break;
      await round();
    }
    const rows = (await store.list(undefined, 2 * N)).items;
    const placedNow = rows.filter((c) => c.state === 'placed');
    // placements acknowledged to a scheduler but missing after the failover (asynchronous replication)
    const acked = [...placements.keys()];
    // an acknowledged placement was lost when the conference had to be placed again (its write never reached the
    // replica) or the conference itself is gone
    const reAcked = acked.filter((id) => placements.get(id)!.length > 1);
    const lost = reAcked.length + (N - rows.length);
    const epochBack = reAcked.filter((id) => {
      const e = placements.get(id)!;
      return e[e.length - 1]! <= e[0]!;
    });
    // duplicated = one conference on two servers at once in the store: impossible by construction, checked
    const reservedTotal = (await store.reservations()).reduce((a, r) => a + r.reserved, 0);
    console.log(
      `failover (waitReplicas ${waitReplicas}): acked before the kill ${ackedBeforeKill}, ${rows.length}/${N} conferences survive, ` +
        `${placedNow.length} placed, lost acked placements ${lost}, epoch not increased on re-placement ` +
        `${epochBack.length}, reserved ${reservedTotal}`,
    );
    expect(placedNow.length).toBe(rows.length);
    expect(reservedTotal).toBe(placedNow.length); // every placed conference holds exactly one reservation
    if (waitReplicas > 0) {
      // an assignment acknowledged by a replica survives: acknowledged twice, it got a higher epoch the second time
      expect(epochBack).toEqual([]);
    } else {
      // without WAIT the promoted replica's epoch counter can be several batches behind the dead master's, so a
      // conference of a lost batch may be re-placed with the same or a lower epoch (the documented loss bound,
      // docs/global-scheduler.md: fencing by epoch needs WAIT). What holds is checked above: every surviving
      // conference placed, each with exactly one reservation. The roll-back is reported, not asserted.
      const below = reAcked.filter((id) => {
        const e = placements.get(id)!;
        return e[e.length - 1]! < e[0]!;
      });
      console.log(
        `failover (waitReplicas 0): re-placed with a lower epoch than first acknowledged: ${below.length}`,
      );
    }
    expect(placedNow.length).toBe(N - (N - rows.length));
    for (const s of schedulers) await s.stop();
  }, 120_000);
});
