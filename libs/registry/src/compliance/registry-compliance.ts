/**
 * The registry compliance suite: ONE set of tests, run unchanged against every backend (memory.test.ts,
 * redis.test.ts). Each backend supplies a harness; `restartBackend` is only given where a backend has a server to
 * restart (Redis).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hasCode, type ManualClock } from '@switchyard/core';
import { waitFor } from '@switchyard/testing';
import type { FeedEvent, RecordInput, RegistryStore, ServiceRecord, Watch } from '../index.js';

export interface ComplianceHarness {
  clock: ManualClock;
  /** A client of the shared backend; a new connection each call where the backend has connections. */
  client(): Promise<RegistryStore>;
  /** Kills the backend server and brings it back empty (Redis); undefined where there is no server. */
  restartBackend?: () => Promise<void>;
  /** Sweep interval of the clients, ms (expiry is published at most this late on the store's clock). */
  sweepMs: number;
  close(): Promise<void>;
}

/** Reads a watch in the background so tests can wait for events with a bound. */
export class Collector {
  readonly events: FeedEvent[] = [];
  private done: Promise<void>;
  constructor(readonly watch: Watch) {
    this.done = (async () => {
      for await (const e of watch) this.events.push(e);
    })();
  }
  async waitFor(what: string, pred: (e: FeedEvent) => boolean, timeoutMs = 5000): Promise<FeedEvent> {
    return waitFor(what, () => this.events.find(pred), { timeoutMs, intervalMs: 5 });
  }
  of(type: FeedEvent['type'], id?: string): FeedEvent[] {
    return this.events.filter(
      (e) => e.type === type && (id === undefined || ('record' in e && e.record.id === id)),
    );
  }
  async close(): Promise<void> {
    this.watch.close();
    await this.done;
  }
}

const isChange = (type: string, id: string) => (e: FeedEvent) =>
  e.type === type && 'record' in e && e.record.id === id;

export function registryCompliance(name: string, makeHarness: () => Promise<ComplianceHarness>): void {
  describe(`RegistryStore compliance: ${name}`, () => {
    let h: ComplianceHarness;
    let store: RegistryStore;
    const collectors: Collector[] = [];
    let svcN = 0;
    let svc: string;
    const rec = (id: string, extra: Partial<RecordInput> = {}): RecordInput => ({
      id,
      service: svc,
      address: `127.0.0.1:${7000 + id.length}`,
      ttlMs: 1000,
      ...extra,
    });
    const collect = (w: Watch) => {
      const c = new Collector(w);
      collectors.push(c);
      return c;
    };

    beforeEach(async () => {
      h = await makeHarness();
      store = await h.client();
      svc = `svc-${++svcN}`;
    });
    afterEach(async () => {
      for (const c of collectors.splice(0)) await c.close();
      await h.close();
    });

    it('putMany writes and publishes each record like put; one bad record writes nothing', async () => {
      await store.put(rec('x'));
      const w = store.watch(svc, await store.currentRevision(svc));
      const c = new Collector(w);
      collectors.push(c);
      const out = await store.putMany!([rec('x', { load: 2 }), rec('y', { meta: { k: 'v' } })]);
      expect(out.map((r) => [r.id, r.revision, r.expiresAt])).toEqual([
        ['x', 2, h.clock.now() + 1000],
        ['y', 3, h.clock.now() + 1000],
      ]);
      expect(await store.get(svc, 'x')).toEqual(out[0]);
      expect(await store.get(svc, 'y')).toEqual(out[1]);
      await c.waitFor('updated x', isChange('updated', 'x'));
      await c.waitFor('added y', isChange('added', 'y'));
      await expect(store.putMany!([rec('z'), rec('bad', { ttlMs: -1 })])).rejects.toMatchObject({
        code: 'REG_ERR_INVALID_TTL',
      });
      await expect(store.putMany!([rec('z'), { ...rec('w'), service: `${svc}-2` }])).rejects.toMatchObject({
        code: 'REG_ERR_INVALID_RECORD',
      });
      expect(await store.get(svc, 'z')).toBeUndefined();
      expect(await store.currentRevision(svc)).toBe(3);
      expect(await store.putMany!([])).toEqual([]);
    });

    it('putMany publishes exactly what the same puts in a row would: an id twice, an expired one re-put', async () => {
      const seq = `${svc}-seq`;
      const ids = ['a', 'b', 'c', 'a'];
      const loads = [1, 2, 3, 4];
      for (const s of [svc, seq]) {
        await store.put({ ...rec('a'), service: s });
        await store.put({ ...rec('b'), service: s, ttlMs: 5000 });
      }
      const watches = [collect(store.watch(svc, 2)), collect(store.watch(seq, 2))];
      h.clock.advance(2000); // 'a' is past expiresAt, 'b' is not (a sweep may or may not get to 'a' first)
      const many = await store.putMany!(ids.map((id, i) => ({ ...rec(id), load: loads[i]! })));
      const one: ServiceRecord[] = [];
      for (let i = 0; i < ids.length; i++)
        one.push(await store.put({ ...rec(ids[i]!), service: seq, load: loads[i]! }));
      expect(many.map((r) => [r.id, r.revision, r.expiresAt, r.load])).toEqual(
        one.map((r) => [r.id, r.revision, r.expiresAt, r.load]),
      );
      expect(many.map((r) => r.revision)).toEqual([4, 5, 6, 7]);
      const shape = (c: Collector) =>
        c.events.flatMap((e) =>
          'record' in e ? [[e.type, e.record.id, e.revision, e.record.load, e.record.expiresAt]] : [],
        );
      for (const c of watches) await c.waitFor('revision 7', (e) => e.revision === 7);
      expect(shape(watches[0]!)).toEqual(shape(watches[1]!));
      expect(shape(watches[0]!).map((e) => e.slice(0, 3))).toEqual([
        ['expired', 'a', 3],
        ['added', 'a', 4],
        ['updated', 'b', 5],
        ['added', 'c', 6],
        ['updated', 'a', 7],
      ]);
      const strip = (r: ServiceRecord | undefined) => r && { ...r, service: '' };
      for (const id of ['a', 'b', 'c'])
        expect(strip(await store.get(svc, id))).toEqual(strip(await store.get(seq, id)));
      expect(await store.currentRevision(svc)).toBe(7);
    });

    it('putMany with returnRecords false resolves to [] and writes and publishes what it would return', async () => {
      const quiet = `${svc}-quiet`;
      const ids = ['a', 'b', 'c', 'a'];
      for (const s of [svc, quiet]) {
        await store.put({ ...rec('a'), service: s });
        await store.put({ ...rec('b'), service: s, ttlMs: 5000 });
      }
      const watches = [collect(store.watch(svc, 2)), collect(store.watch(quiet, 2))];
      h.clock.advance(2000); // 'a' is past expiresAt: an 'expired' event first, then 'added'
      const inputs = ids.map((id, i) => ({ ...rec(id), load: i + 1 }));
      const loud = await store.putMany!(inputs);
      expect(loud.map((r) => r.revision)).toEqual([4, 5, 6, 7]);
      expect(
        await store.putMany!(
          inputs.map((r) => ({ ...r, service: quiet })),
          { returnRecords: false },
        ),
      ).toEqual([]);
      const shape = (c: Collector) =>
        c.events.flatMap((e) =>
          'record' in e ? [[e.type, e.record.id, e.revision, e.record.load, e.record.expiresAt]] : [],
        );
      for (const c of watches) await c.waitFor('revision 7', (e) => e.revision === 7);
      expect(shape(watches[1]!)).toEqual(shape(watches[0]!));
      const strip = (r: ServiceRecord | undefined) => r && { ...r, service: '' };
      for (const id of ['a', 'b', 'c'])
        expect(strip(await store.get(quiet, id))).toEqual(strip(await store.get(svc, id)));
      expect(strip(await store.get(quiet, 'a'))).toEqual(strip(loud[3]));
      expect(await store.currentRevision(quiet)).toBe(7);
      // validation still runs first: a bad record writes nothing
      await expect(
        store.putMany!(
          [
            { ...rec('z'), service: quiet },
            { ...rec('bad'), service: quiet, ttlMs: -1 },
          ],
          {
            returnRecords: false,
          },
        ),
      ).rejects.toMatchObject({ code: 'REG_ERR_INVALID_TTL' });
      expect(await store.get(quiet, 'z')).toBeUndefined();
    });

    it('putMany stores ids and bodies with newlines and quotes as they were given', async () => {
      // the Redis store packs a batch into one argument split at newlines, unless an id holds one
      const odd = { k: 'line\nbreak "q" \\ é' };
      const withNl = await store.putMany!([rec('n\nl', { meta: odd }), rec('plain', { meta: odd })]);
      const packed = await store.putMany!([rec('p1', { meta: odd }), rec('p2', { address: 'a\nb' })]);
      for (const r of [...withNl, ...packed]) expect(await store.get(svc, r.id)).toEqual(r);
      expect((await store.get(svc, 'n\nl'))?.meta).toEqual(odd);
      expect((await store.get(svc, 'p2'))?.address).toBe('a\nb');
      expect([...withNl, ...packed].map((r) => r.revision)).toEqual([1, 2, 3, 4]);
    });

    it('put fills defaults, get/list return live records, revisions count per service', async () => {
      const a = await store.put(rec('a'));
      expect(a).toMatchObject({
        id: 'a',
        service: svc,
        region: 'default',
        load: 0,
        capacity: 0,
        state: 'serving',
        meta: {},
        revision: 1,
      });
      expect(a.expiresAt).toBe(h.clock.now() + 1000);
      const b = await store.put(rec('b', { load: 3, capacity: 10, region: 'eu', meta: { zone: 'z1' } }));
      expect(b.revision).toBe(2);
      expect(await store.get(svc, 'a')).toEqual(a);
      expect((await store.list(svc)).map((r) => r.id)).toEqual(['a', 'b']);
      expect(await store.currentRevision(svc)).toBe(2);
      expect(await store.currentRevision(`${svc}-other`)).toBe(0);
      const a2 = await store.update(svc, 'a', { load: 5, state: 'draining' });
      expect(a2).toMatchObject({ load: 5, state: 'draining', revision: 3, expiresAt: a.expiresAt });
      expect(await store.remove(svc, 'a')).toBe(true);
      expect(await store.remove(svc, 'a')).toBe(false);
      expect(await store.get(svc, 'a')).toBeUndefined();
      expect(await store.currentRevision(svc)).toBe(4);
    });

    it('renew moves expiresAt without a new revision and publishes nothing', async () => {
      const w = collect(store.watch(svc));
      await w.waitFor('snapshot', (e) => e.type === 'snapshot');
      const a = await store.put(rec('a'));
      await h.clock.advanceAsync(600);
      const r = await store.renew(svc, 'a', 1000);
      expect(r.revision).toBe(a.revision);
      expect(r.expiresAt).toBe(h.clock.now() + 1000);
      await h.clock.advanceAsync(600); // past the first expiresAt, before the renewed one
      expect(await store.get(svc, 'a')).toBeDefined();
      await store.put(rec('marker'));
      await w.waitFor('marker added', isChange('added', 'marker'));
      expect(w.events.map((e) => e.type)).toEqual(['snapshot', 'added', 'added']);
    });

    it('watch without a revision: snapshot, then added/updated/removed at once', async () => {
      await store.put(rec('a'));
      const w = collect(store.watch(svc));
      const snap = await w.waitFor('snapshot', (e) => e.type === 'snapshot');
      expect(snap).toMatchObject({ type: 'snapshot', revision: 1 });
      expect(snap.type === 'snapshot' && snap.records.map((r) => r.id)).toEqual(['a']);
      await store.put(rec('b'));
      await store.put(rec('a', { load: 2 }));
      await store.update(svc, 'b', { capacity: 9 });
      await store.remove(svc, 'a');
      await w.waitFor('removed a', isChange('removed', 'a'));
      expect(w.events.slice(1).map((e) => [e.type, 'record' in e && e.record.id, e.revision])).toEqual([
        ['added', 'b', 2],
        ['updated', 'a', 3],
        ['updated', 'b', 4],
        ['removed', 'a', 5],
      ]);
      const upd = w.events[2]!;
      expect(upd.type === 'updated' && upd.record.load).toBe(2);
    });

    it('TTL expiry produces exactly one expired event, even with several readers and sweeps', async () => {
      const other = await h.client();
      const w1 = collect(store.watch(svc));
      const w2 = collect(other.watch(svc));
      await w1.waitFor('snapshot 1', (e) => e.type === 'snapshot');
      await w2.waitFor('snapshot 2', (e) => e.type === 'snapshot');
      await store.put(rec('a', { ttlMs: 500 }));
      await h.clock.advanceAsync(500 + h.sweepMs * 2);
      await w1.waitFor('expired a', isChange('expired', 'a'));
      // more sweeps, reads and writes that could each (wrongly) expire it again
      await h.clock.advanceAsync(h.sweepMs * 4);
      expect(await store.get(svc, 'a')).toBeUndefined();
      expect(await other.list(svc)).toEqual([]);
      await expect(other.renew(svc, 'a', 1000)).rejects.toSatisfy((e: unknown) =>
        hasCode(e, 'REG_ERR_NOT_FOUND'),
      );
      expect(await store.remove(svc, 'a')).toBe(false);
      await store.put(rec('marker'));
      await w1.waitFor('marker 1', isChange('added', 'marker'));
      await w2.waitFor('marker 2', isChange('added', 'marker'));
      expect(w1.of('expired', 'a')).toHaveLength(1);
      expect(w2.of('expired', 'a')).toHaveLength(1);
      const ex = w1.of('expired', 'a')[0]!;
      expect(ex.type === 'expired' && ex.record.revision).toBe(1);
      expect(ex.revision).toBe(2);
      if (other !== store) await other.stop();
    });

    it('many records expiring at once under racing sweepers and renewals: each expires exactly once', async () => {
      const clients = [store, await h.client(), await h.client()];
      const w = collect(store.watch(svc));
      await w.waitFor('snapshot', (e) => e.type === 'snapshot');
      const ids = Array.from({ length: 20 }, (_, i) => `r${i}`);
      for (const id of ids) await store.put(rec(id, { ttlMs: 400 }));
      await h.clock.advanceAsync(400);
      // every client sweeps and tries to renew every record at the same time, on the same (expired) clock
      const results = await Promise.allSettled(
        clients.flatMap((c) => ids.map((id) => c.renew(svc, id, 400))),
      );
      expect(results.every((r) => r.status === 'rejected' && hasCode(r.reason, 'REG_ERR_NOT_FOUND'))).toBe(
        true,
      );
      await h.clock.advanceAsync(h.sweepMs * 3);
      await store.put(rec('marker'));
      await w.waitFor('marker', isChange('added', 'marker'));
      for (const id of ids) expect(w.of('expired', id), id).toHaveLength(1);
      expect(w.events.filter((e) => e.type === 'expired')).toHaveLength(ids.length);
      expect(await store.currentRevision(svc)).toBe(ids.length * 2 + 1);
      for (const c of clients.slice(1)) if (c !== store) await c.stop();
    });

    it('an expired lease cannot be renewed; put brings it back as added', async () => {
      await store.put(rec('a', { ttlMs: 300 }));
      await h.clock.advanceAsync(300);
      await expect(store.renew(svc, 'a', 300)).rejects.toSatisfy((e: unknown) =>
        hasCode(e, 'REG_ERR_NOT_FOUND'),
      );
      await expect(store.update(svc, 'a', { load: 1 })).rejects.toSatisfy((e: unknown) =>
        hasCode(e, 'REG_ERR_NOT_FOUND'),
      );
      const again = await store.put(rec('a', { ttlMs: 300 }));
      expect(again.revision).toBe(3); // 1 added, 2 expired, 3 added again
    });

    it('a subscriber that reconnects with its last revision misses nothing and sees nothing twice', async () => {
      const w = collect(store.watch(svc));
      await store.put(rec('a'));
      await store.put(rec('b'));
      await w.waitFor('b', isChange('added', 'b'));
      const last = w.events[w.events.length - 1]!.revision;
      await w.close();
      // changes while disconnected, of every kind
      await store.update(svc, 'a', { load: 7 });
      await store.remove(svc, 'b');
      await store.put(rec('c', { ttlMs: 200 }));
      await h.clock.advanceAsync(200 + h.sweepMs * 2);
      await waitFor(
        'c expired',
        async () =>
          (await store.list(svc)).every((r) => r.id !== 'c') && (await store.currentRevision(svc)) === 6,
      );
      const w2 = collect(store.watch(svc, last));
      await store.put(rec('d'));
      await w2.waitFor('d', isChange('added', 'd'));
      expect(w2.events.map((e) => [e.type, 'record' in e && e.record.id, e.revision])).toEqual([
        ['updated', 'a', 3],
        ['removed', 'b', 4],
        ['added', 'c', 5],
        ['expired', 'c', 6],
        ['added', 'd', 7],
      ]);
    });

    it('resuming from a revision that is too old or from the future gives reset then snapshot', async () => {
      const w = collect(store.watch(svc, 999));
      await w.waitFor('snapshot', (e) => e.type === 'snapshot');
      expect(w.events.map((e) => e.type)).toEqual(['reset', 'snapshot']);
    });

    it('resuming from a revision older than the kept history gives reset then a complete snapshot', async () => {
      for (let i = 0; i < 300; i++) await store.put(rec(`r${i % 10}`, { load: i, ttlMs: 60_000 }));
      const w = collect(store.watch(svc, 1));
      const snap = await w.waitFor('snapshot', (e) => e.type === 'snapshot');
      expect(w.events[0]).toMatchObject({ type: 'reset', revision: 300 });
      expect(snap).toMatchObject({ revision: 300 });
      expect(snap.type === 'snapshot' && snap.records.map((r) => r.load).sort((a, b) => a - b)).toEqual([
        290, 291, 292, 293, 294, 295, 296, 297, 298, 299,
      ]);
      // a recent revision still resumes without a reset
      const w2 = collect(store.watch(svc, 295));
      await store.put(rec('z'));
      await w2.waitFor('z', isChange('added', 'z'));
      expect(w2.events.map((e) => e.revision)).toEqual([296, 297, 298, 299, 300, 301]);
    });

    it('concurrent updates of one record from two clients never lose a write', async () => {
      const c1 = store;
      const c2 = await h.client();
      await c1.put(rec('a', { ttlMs: 60_000 }));
      const n = 25;
      // read-modify-write with compare-and-set, retried on conflict: every increment must land
      const incr = async (c: RegistryStore) => {
        for (let i = 0; i < n; i++) {
          for (let attempt = 0; ; attempt++) {
            expect(attempt).toBeLessThan(200);
            const cur = (await c.get(svc, 'a'))!;
            try {
              await c.update(svc, 'a', { load: cur.load + 1 }, { expectRevision: cur.revision });
              break;
            } catch (err) {
              if (!hasCode(err, 'REG_ERR_CONFLICT')) throw err;
            }
          }
        }
      };
      await Promise.all([incr(c1), incr(c2)]);
      const final = (await c1.get(svc, 'a'))!;
      expect(final.load).toBe(2 * n);
      expect(final.revision).toBe(1 + 2 * n);
      // a stale expectRevision is refused and changes nothing
      await expect(c2.update(svc, 'a', { load: 0 }, { expectRevision: 1 })).rejects.toSatisfy((e: unknown) =>
        hasCode(e, 'REG_ERR_CONFLICT'),
      );
      await expect(c2.put(rec('a'), { expectRevision: 0 })).rejects.toSatisfy((e: unknown) =>
        hasCode(e, 'REG_ERR_CONFLICT'),
      );
      expect((await c1.get(svc, 'a'))!.load).toBe(2 * n);
      const created = await c2.put(rec('new'), { expectRevision: 0 });
      expect(created.revision).toBe(2 + 2 * n);
      if (c2 !== c1) await c2.stop();
    });

    it('bad input gives a typed, counted error and leaves stored data intact', async () => {
      const good = await store.put(rec('a', { meta: { k: 'v' } }));
      const cases: Array<[string, () => Promise<unknown>]> = [
        ['REG_ERR_INVALID_RECORD', () => store.put({ ...rec('x'), address: '' })],
        [
          'REG_ERR_INVALID_RECORD',
          () => store.put({ id: 'x', service: svc, ttlMs: 100 } as unknown as RecordInput),
        ],
        ['REG_ERR_INVALID_RECORD', () => store.put(rec('x', { load: -1 }))],
        ['REG_ERR_INVALID_RECORD', () => store.put(rec('x', { state: 'zombie' as 'down' }))],
        ['REG_ERR_INVALID_RECORD', () => store.update(svc, 'a', { state: 'zombie' as 'down' })],
        [
          'REG_ERR_INVALID_RECORD',
          () => store.update(svc, 'a', { revision: 99 } as unknown as { load: number }),
        ],
        ['REG_ERR_INVALID_TTL', () => store.put(rec('x', { ttlMs: -5 }))],
        ['REG_ERR_INVALID_TTL', () => store.put(rec('x', { ttlMs: Number.NaN }))],
        ['REG_ERR_INVALID_TTL', () => store.renew(svc, 'a', 0)],
        ['REG_ERR_META_TOO_LARGE', () => store.put(rec('x', { meta: { big: 'x'.repeat(10_000) } }))],
        [
          'REG_ERR_META_TOO_LARGE',
          () =>
            store.update(svc, 'a', {
              meta: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, 'v'])),
            }),
        ],
      ];
      for (const [code, call] of cases) {
        await expect(call(), code).rejects.toSatisfy((e: unknown) => hasCode(e, code));
      }
      expect(await store.get(svc, 'a')).toEqual(good);
      expect(await store.get(svc, 'x')).toBeUndefined();
      expect(await store.currentRevision(svc)).toBe(1);
      const counted = (
        store as unknown as { errors: { snapshot(): Record<string, number> } }
      ).errors.snapshot();
      expect(counted).toMatchObject({
        REG_ERR_INVALID_RECORD: 6,
        REG_ERR_INVALID_TTL: 3,
        REG_ERR_META_TOO_LARGE: 2,
      });
    });

    it.skipIf(!makeHarnessHasRestart(name))(
      'backend restarted mid-watch: the subscriber gets reset + snapshot, nothing silently lost',
      async () => {
        const w = collect(store.watch(svc));
        await store.put(rec('a', { ttlMs: 60_000 }));
        await w.waitFor('a', isChange('added', 'a'));
        await h.restartBackend!();
        // the data is gone with the server; a writer re-registers after the restart
        await waitFor(
          'write after restart',
          async () => (await store.put(rec('b', { ttlMs: 60_000 })).catch(() => false)) !== false,
          { timeoutMs: 10_000 },
        );
        const reset = await w.waitFor('reset', (e) => e.type === 'reset', 10_000);
        const i = w.events.indexOf(reset);
        const after = await w.waitFor(
          'snapshot after reset',
          (e) => e.type === 'snapshot' && w.events.indexOf(e) > i,
        );
        // b is in the fresh snapshot or arrives right after it, once
        await waitFor('b visible after reset', () => {
          const tail = w.events.slice(w.events.indexOf(after));
          const inSnap = after.type === 'snapshot' && after.records.some((r: ServiceRecord) => r.id === 'b');
          return inSnap || tail.some(isChange('added', 'b'));
        });
        expect(w.events[i + 1]).toBe(after); // snapshot follows reset at once
        expect(after.type === 'snapshot' && after.records.some((r) => r.id === 'a')).toBe(false); // lost with the server, and said so
        // the feed keeps working
        await store.put(rec('c', { ttlMs: 60_000 }));
        await w.waitFor('c after restart', isChange('added', 'c'));
      },
    );
  });
}

const withRestart = new Set<string>();
/** Backends whose harness can restart a server register here (the restart test is skipped for the others). */
export function declareRestartable(name: string): void {
  withRestart.add(name);
}
function makeHarnessHasRestart(name: string): boolean {
  return withRestart.has(name);
}
