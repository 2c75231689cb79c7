/**
 * The owner-side kernel decapsulation (`--kernel-decap`, docs/pop-router.md "Kernel decapsulation") end to end (root,
 * the clang-built BPF object, bpftool, nft): a namespace POP of two hosts in vxlan mode, both routers with
 * `--kernel-forward --kernel-decap`, the VIP routed to host 1 (A) only, a conference owned by host 2 (B). A client's
 * OPTIONS land on A, which forwards them to B (its primary first, then its tc program); B's tc program removes the
 * VXLAN encapsulation before vx0 sees it: every datagram is counted by B's program as decapsulated, none reaches vx0
 * (its receive counter stays), B's dispatcher gets each one on its tunnel socket with the client's own address (its
 * worker's answer reaches the client's socket), 0 lost. Then the fence: a VXLAN packet from outside the POP network
 * is not decapsulated by the program (counted as refused) and the nftables fence drops it (not delivered), while the
 * same packet from A is decapsulated by the program and delivered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, type NetnsPop, type NetnsPopHost } from '@switchyard/testing';
import {
  fenceCounted,
  fenceVxlan,
  hitCounter,
  optionsClient,
  programMaps,
  sendVxlan,
  BPF_OBJECT,
  kernelSuiteSkip,
  startKernelPop,
} from './kernel-helpers.js';

const object = BPF_OBJECT;
const skip = kernelSuiteSkip(['bpftool', 'nft']);
if (skip) console.warn(`kernel decapsulation suite skipped: ${skip}`);

const CONFERENCE = 'kdconf';
const CLIENT_PORT = 42_000 + (process.pid % 1000);
/** sy_hits indices (bpf/kernel-forward.bpf.c) */
const FORWARDED = 0;
const DECAPSULATED = 2;
const REFUSED_OUTSIDE = 3;

describe.skipIf(skip !== '')('kernel decapsulation (tc eBPF on the owner, namespace POP of 2 hosts)', () => {
  let pop: NetnsPop;
  let a: NetnsPopHost;
  let b: NetnsPopHost;

  beforeAll(async () => {
    pop = await startKernelPop({
      prefix: 'popfwd5-kd',
      name: 'd',
      slot: 5,
      hostEnv: () => ({
        POPR_KERNEL_FORWARD: 'true',
        POPR_KERNEL_DECAP: 'true',
        POPR_KERNEL_FORWARD_OBJECT: object,
      }),
    });
    [a, b] = pop.hosts as [NetnsPopHost, NetnsPopHost];
    await pop.lab.route(pop.routerNs, `${pop.vip}/32`, [{ via: a.address, dev: pop.network.bridge }]);
    await pop.lab.run(b.ns, 'curl', [
      '-sf',
      '-X',
      'PUT',
      '-H',
      `Authorization: Bearer ${pop.token}`,
      '-H',
      'content-type: application/json',
      '-d',
      '{"epoch":1}',
      `http://${b.address}:7947/v1/sessions/${CONFERENCE}`,
    ]);
    await waitFor(
      `${CONFERENCE} owned by ${b.id} on ${a.id}`,
      async () =>
        ((await pop.get(a, 7947, `/v1/sessions/${CONFERENCE}`).catch(() => undefined)) as { owner?: string })
          ?.owner === b.id,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  }, 300_000);

  afterAll(async () => {
    await pop?.dispose();
  }, 60_000);

  const mapOf = async (h: NetnsPopHost, name: string): Promise<number> => {
    const id = (await programMaps(pop, h)).get(name);
    expect(id, `map ${name} of ${h.id}'s program`).toBeDefined();
    return id!;
  };
  const counter = hitCounter;
  const vx0Received = async (h: NetnsPopHost) =>
    (
      JSON.parse(await pop.lab.run(h.ns, 'ip', ['-j', '-s', 'link', 'show', 'vx0'])) as {
        stats64: { rx: { packets: number } };
      }[]
    )[0]!.stats64.rx.packets;
  const decapOnB = () => pop.dispatcherMetric(b, 'sipdisp_decapsulated_total');

  let calls = 0;
  const client = (count: number) =>
    optionsClient(pop, { conference: CONFERENCE, count, port: CLIENT_PORT, call: ++calls, tag: 'kd' });

  it("B's tc program decapsulates every forwarded datagram (vx0 sees none); the client's own address reaches B's worker", async () => {
    const hitsA = await mapOf(a, 'sy_hits');
    const hitsB = await mapOf(b, 'sy_hits');
    const decap0 = counter(hitsB, DECAPSULATED);
    const kfwd0 = counter(hitsA, FORWARDED);
    const vx0 = await vx0Received(b);
    const inner0 = await decapOnB();
    const forwarded0 = await pop.dispatcherMetric(a, 'sipdisp_pop_events', 'event="forwarded"');

    const r = await client(40);
    // the worker answered the client's socket: B saw the client's own address and port (not A's, not the VIP)
    expect(r).toEqual({ answered: 40, lost: 0, from: [`${pop.vip}:5060`] });
    const userFwd = (await pop.dispatcherMetric(a, 'sipdisp_pop_events', 'event="forwarded"')) - forwarded0;
    const kernelFwd = counter(hitsA, FORWARDED) - kfwd0;
    expect(userFwd, "A's primary forwarded the first datagrams").toBeGreaterThanOrEqual(8);
    expect(kernelFwd, "A's tc program forwarded the rest").toBeGreaterThan(0);
    expect(userFwd + kernelFwd, 'every datagram was forwarded by A').toBe(40);
    expect(counter(hitsB, DECAPSULATED) - decap0, "B's tc program decapsulated all of them").toBe(40);
    expect((await decapOnB()) - inner0, "B's dispatcher got them on its tunnel socket").toBe(40);
    expect(await vx0Received(b), 'none went through vx0').toBe(vx0);
    // the router exports the program's counter
    const scraped = (await pop.get(b, 7947, '/metrics')) as string;
    const line = scraped.split('\n').find((l) => l.startsWith('pop_kernel_decap{event="decapsulated"}'));
    expect(Number(line?.split(' ').at(-1)), "B's router /metrics").toBe(counter(hitsB, DECAPSULATED));
  }, 120_000);

  it('fence: VXLAN from outside the POP network is not decapsulated by the program nor delivered; from A it is', async () => {
    await fenceVxlan(pop, b);
    const hitsB = await mapOf(b, 'sy_hits');
    const refused0 = counter(hitsB, REFUSED_OUTSIDE);
    const decap0 = counter(hitsB, DECAPSULATED);
    const inner0 = await decapOnB();
    // from the client namespace (outside the POP network), routed to B through the router
    await sendVxlan(pop, pop.client, b, 'kd-fence-out');
    await waitFor('the fence counted the outside packet', () => fenceCounted(pop, b));
    expect(counter(hitsB, REFUSED_OUTSIDE) - refused0, 'the program refused it').toBe(1);
    expect(counter(hitsB, DECAPSULATED), 'the program did not decapsulate it').toBe(decap0);
    expect(await decapOnB(), 'not delivered').toBe(inner0);
    // the same packet from A (inside) is decapsulated by the program and delivered to the tunnel socket
    await sendVxlan(pop, a.ns, b, 'kd-fence-in');
    await waitFor('the inside packet delivered on B', async () => (await decapOnB()) === inner0 + 1);
    expect(counter(hitsB, DECAPSULATED) - decap0).toBe(1);
    expect(counter(hitsB, REFUSED_OUTSIDE) - refused0).toBe(1);
  }, 120_000);
});
