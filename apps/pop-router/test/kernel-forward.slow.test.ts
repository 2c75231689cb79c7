/**
 * The kernel forward end to end (root, clang-built BPF object, bpftool; CI has all three): a namespace POP of two
 * hosts in vxlan mode with `--kernel-forward`, the VIP routed to host 1 (A) only, a conference owned by host 2 (B).
 * A client's OPTIONS to the VIP land on A: A's primary forwards them to B (user space) until it delegates the client;
 * from then on the tc program on A's `pop0` encapsulates them (its hit counter grows, A's primary's forward counter
 * stops) and B's kernel decapsulates them to B's worker, which answers. Then B releases the conference (the session
 * moves to no owner): A removes the entry and handles the client itself; B claims it again, the client is delegated
 * again; then B's processes stop (it leaves the POP): A removes the entry and the client's datagrams go back to A's
 * primary (handled there: no live owner). The kernel forwards leave by the default egress (auto: A's pop0 is a veth
 * whose peer is in another namespace, so `bpf_redirect_peer` with the cached next hop), counted in sy_hits[5]/[6].
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, type NetnsPop, type NetnsPopHost } from '@switchyard/testing';
import {
  BPF_OBJECT,
  hitCounter,
  kernelSuiteSkip,
  mapEntries,
  optionsClient,
  programMaps,
  resolveNeighbour,
  startKernelPop,
} from './kernel-helpers.js';

const object = BPF_OBJECT;
const skip = kernelSuiteSkip(['bpftool']);
if (skip) console.warn(`kernel forward suite skipped: ${skip}`);

const CONFERENCE = 'kfconf';
/** sy_hits indices of the egress (bpf/kernel-forward.bpf.c) */
const EGRESS_REDIRECT = 5;
const EGRESS_PEER = 6;
const EGRESS_NEIGH = 7;
const CLIENT_PORT = 41_000 + (process.pid % 1000);

describe.skipIf(skip !== '')('kernel forward (tc eBPF, namespace POP of 2 hosts)', () => {
  let pop: NetnsPop;
  let a: NetnsPopHost;
  let b: NetnsPopHost;

  beforeAll(async () => {
    pop = await startKernelPop({
      prefix: 'popfwd4-kf',
      name: 'k',
      slot: 4,
      hostEnv: () => ({ POPR_KERNEL_FORWARD: 'true', POPR_KERNEL_FORWARD_OBJECT: object }),
    });
    [a, b] = pop.hosts as [NetnsPopHost, NetnsPopHost];
    await pop.lab.route(pop.routerNs, `${pop.vip}/32`, [{ via: a.address, dev: pop.network.bridge }]);
    await claimOnB(1);
    await resolveNeighbour(pop, a, b);
    await waitFor(
      `${a.id} learned ${b.id}'s MAC from ARP (sy_nh)`,
      async () => mapEntries((await programMaps(pop, a)).get('sy_nh')!) >= 1,
      { timeoutMs: 20_000, intervalMs: 100 },
    );
  }, 300_000);

  /** B claims the conference (scheduler-style, with an epoch); A must know it before the client sends. */
  async function claimOnB(epoch: number) {
    await session(b, 'PUT', JSON.stringify({ epoch }));
    await waitFor(
      `${CONFERENCE} owned by ${b.id} on ${a.id}`,
      async () =>
        ((await pop.get(a, 7947, `/v1/sessions/${CONFERENCE}`).catch(() => undefined)) as { owner?: string })
          ?.owner === b.id,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  }

  const session = (h: NetnsPopHost, method: string, body?: string) =>
    pop.lab.run(h.ns, 'curl', [
      '-sf',
      '-X',
      method,
      '-H',
      `Authorization: Bearer ${pop.token}`,
      ...(body ? ['-H', 'content-type: application/json', '-d', body] : []),
      `http://${h.address}:7947/v1/sessions/${CONFERENCE}`,
    ]);

  afterAll(async () => {
    await pop?.dispose();
  }, 60_000);

  let calls = 0;
  /** `count` OPTIONS from the client's port, in a call (Call-ID) of their own: a host that handled a call keeps it. */
  const client = async (count: number) => {
    const r = await optionsClient(pop, {
      conference: CONFERENCE,
      count,
      port: CLIENT_PORT,
      call: ++calls,
      tag: 'kf',
    });
    return { answered: r.answered, lost: r.lost };
  };

  /** The ids of the program's maps on A. */
  const maps = async () => {
    const byName = await programMaps(pop, a);
    return { fwd: byName.get('sy_fwd')!, hits: byName.get('sy_hits')! };
  };
  const entries = mapEntries;
  /** Datagrams the program forwarded (sy_hits[0]). */
  const hits = (id: number) => hitCounter(id, 0);
  const forwardedOnA = () => pop.dispatcherMetric(a, 'sipdisp_pop_events', 'event="forwarded"');
  const decapOnB = () => pop.dispatcherMetric(b, 'sipdisp_decapsulated_total');

  it('delegates the client to the kernel: B answers, A primary stops forwarding, the BPF hits grow; owner gone → back to the primary', async () => {
    const m = await maps();
    expect(entries(m.fwd)).toBe(0);
    const hits0 = hits(m.hits);
    // phase 1: user-space forwards until the primary delegates (8 in a row to one owner, the default)
    const first = await client(12);
    expect(first).toEqual({ answered: 12, lost: 0 });
    await waitFor('the kernel entry written on A', async () => entries(m.fwd) === 1, {
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    const fwd1 = await forwardedOnA();
    expect(fwd1, 'A forwarded the first datagrams in user space').toBeGreaterThanOrEqual(8);
    const decap1 = await decapOnB();
    // phase 1's last datagrams may have taken the kernel path already (the entry is written while they are sent)
    const hits1 = hits(m.hits);
    const peer1 = hitCounter(m.hits, EGRESS_PEER);
    const redirect1 = hitCounter(m.hits, EGRESS_REDIRECT);
    const neigh1 = hitCounter(m.hits, EGRESS_NEIGH);
    expect(hits1 - hits0 + fwd1, 'each datagram of phase 1 took one of the two paths').toBe(12);

    // A learned B's MAC from ARP (resolveNeighbour, in beforeAll): the program's next hop, used by the egress below
    expect(entries((await programMaps(pop, a)).get('sy_nh')!), "B's MAC in A's sy_nh").toBeGreaterThanOrEqual(
      1,
    );
    // phase 2: the kernel forwards; A's primary sees none of it
    const second = await client(30);
    expect(second).toEqual({ answered: 30, lost: 0 });
    expect(await forwardedOnA(), "A's primary forwarded nothing more").toBe(fwd1);
    expect(hits(m.hits) - hits1, 'the BPF program forwarded every datagram').toBe(30);
    // the egress (default auto): A's pop0 is a veth whose peer is in the router namespace, so every kernel forward
    // went into that peer with B's MAC learned from ARP (bpf_redirect_peer), none through the neighbour lookup
    expect(hitCounter(m.hits, EGRESS_PEER) - peer1, 'into the veth peer').toBe(30);
    expect(hitCounter(m.hits, EGRESS_REDIRECT) - redirect1, 'with the learned MAC').toBe(30);
    expect(hitCounter(m.hits, EGRESS_NEIGH) - neigh1, 'no neighbour-lookup fallback').toBe(0);
    const scraped = (await pop.get(a, 7947, '/metrics')) as string;
    const peerLine = scraped.split('\n').find((l) => l.startsWith('pop_kernel_forward{event="egress_peer"}'));
    expect(Number(peerLine?.split(' ').at(-1)), "A's router /metrics").toBe(hitCounter(m.hits, EGRESS_PEER));
    expect((await decapOnB()) - decap1, "B's kernel decapsulated them to B's dispatcher").toBe(30);

    // the dispatcher's idle sweep (every 5 s) reads the program's counter into its metrics
    await waitFor(
      "A's kernel_hits metric reads the program's counter",
      async () => (await pop.dispatcherMetric(a, 'sipdisp_pop_kernel_forward', 'event="kernel_hits"')) >= 30,
      { timeoutMs: 20_000, intervalMs: 500 },
    );

    // phase 3: the session moves away from B (released: no owner): A removes the entry, handles the client itself
    await session(b, 'DELETE');
    await waitFor('A removed the entry after the session moved', async () => entries(m.fwd) === 0, {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    expect(await pop.dispatcherMetric(a, 'sipdisp_pop_kernel_forward', 'event="removed_session-moved"')).toBe(
      1,
    );
    const hits3 = hits(m.hits);
    expect(await client(3)).toEqual({ answered: 3, lost: 0 });
    expect(hits(m.hits), 'not through the kernel').toBe(hits3);

    // B owns it again: the client is delegated again after its next run of forwards
    await claimOnB(2);
    expect(await client(12)).toEqual({ answered: 12, lost: 0 });
    await waitFor('the kernel entry written again', async () => entries(m.fwd) === 1, {
      timeoutMs: 20_000,
      intervalMs: 100,
    });

    // phase 4: B leaves (its processes stop gracefully); A removes the entry; the datagrams go to A's primary again
    for (const p of [b.dispatcher, b.router]) p.child.kill('SIGTERM');
    await waitFor('A removed the kernel entry after B left', async () => entries(m.fwd) === 0, {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    const hits2 = hits(m.hits);
    const third = await client(5);
    expect(third, 'handled on A now (no live owner)').toEqual({ answered: 5, lost: 0 });
    expect(hits(m.hits), 'no kernel forward any more').toBe(hits2);
    expect(await pop.dispatcherMetric(a, 'sipdisp_pop_kernel_forward', 'event="removed_owner-gone"')).toBe(1);
  }, 180_000);
});
