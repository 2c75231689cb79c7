/**
 * The kernel forward's egress modes and `--kernel-decap` alone (root, the clang-built BPF object, bpftool): a
 * namespace POP of two hosts in vxlan mode, the VIP routed to host 1 (A) only, a conference owned by host 2 (B). A's
 * router runs `--kernel-forward --kernel-forward-egress redirect` (the next hop cached, `bpf_redirect` to pop0's
 * transmit, no veth-peer shortcut); B's router runs `--kernel-decap` without `--kernel-forward` (its program only
 * decapsulates; its dispatcher is offered no forward map). A client's OPTIONS reach B's worker through A's tc program
 * and B's: every one answered, B's program decapsulated all of them (vx0 none), A's kernel forwards all left by
 * `bpf_redirect` (none by the peer, none by the neighbour lookup). Then A's `sy_egress` entry is set to mode 0 (what
 * `--kernel-forward-egress neigh` writes): the next datagrams leave by `bpf_redirect_neigh`, still all answered.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, type NetnsPop, type NetnsPopHost } from '@switchyard/testing';
import { bpftoolHex } from '../src/kernel-forward/kernel-decap-config.js';
import { encodeEgressConfig } from '../src/kernel-forward/kernel-egress-config.js';
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

const skip = kernelSuiteSkip(['bpftool']);
if (skip) console.warn(`kernel egress suite skipped: ${skip}`);

const CONFERENCE = 'keconf';
const CLIENT_PORT = 43_000 + (process.pid % 1000);
/** sy_hits indices (bpf/kernel-forward.bpf.c) */
const FORWARDED = 0;
const DECAPSULATED = 2;
const EGRESS_REDIRECT = 5;
const EGRESS_PEER = 6;
const EGRESS_NEIGH = 7;

describe.skipIf(skip !== '')('kernel forward egress modes; --kernel-decap without --kernel-forward', () => {
  let pop: NetnsPop;
  let a: NetnsPopHost;
  let b: NetnsPopHost;

  beforeAll(async () => {
    pop = await startKernelPop({
      prefix: 'popfwd6-ke',
      name: 'e',
      slot: 6,
      hostEnv: ({ index }): Record<string, string> =>
        index === 1
          ? {
              POPR_KERNEL_FORWARD: 'true',
              POPR_KERNEL_FORWARD_EGRESS: 'redirect',
              POPR_KERNEL_FORWARD_OBJECT: BPF_OBJECT,
            }
          : { POPR_KERNEL_DECAP: 'true', POPR_KERNEL_FORWARD_OBJECT: BPF_OBJECT },
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
    await resolveNeighbour(pop, a, b);
    await waitFor(
      `${a.id} learned ${b.id}'s MAC from ARP (sy_nh)`,
      async () => mapEntries((await programMaps(pop, a)).get('sy_nh')!) >= 1,
      { timeoutMs: 20_000, intervalMs: 100 },
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
  const vx0Received = async (h: NetnsPopHost) =>
    (
      JSON.parse(await pop.lab.run(h.ns, 'ip', ['-j', '-s', 'link', 'show', 'vx0'])) as {
        stats64: { rx: { packets: number } };
      }[]
    )[0]!.stats64.rx.packets;
  const decapOnB = () => pop.dispatcherMetric(b, 'sipdisp_decapsulated_total');
  let calls = 0;
  const client = (count: number) =>
    optionsClient(pop, { conference: CONFERENCE, count, port: CLIENT_PORT, call: ++calls, tag: 'ke' });

  it("redirect egress on A, decapsulation alone on B: every datagram answered, B's program took them all", async () => {
    const hitsA = await mapOf(a, 'sy_hits');
    const hitsB = await mapOf(b, 'sy_hits');
    const at = (id: number, i: number) => hitCounter(id, i);
    const before = {
      fwd: at(hitsA, FORWARDED),
      redirect: at(hitsA, EGRESS_REDIRECT),
      peer: at(hitsA, EGRESS_PEER),
      neigh: at(hitsA, EGRESS_NEIGH),
      decap: at(hitsB, DECAPSULATED),
      vx0: await vx0Received(b),
      inner: await decapOnB(),
    };
    const r = await client(40);
    expect(r).toEqual({ answered: 40, lost: 0, from: [`${pop.vip}:5060`] });
    const kernelFwd = at(hitsA, FORWARDED) - before.fwd;
    expect(kernelFwd, "A's tc program forwarded the datagrams after the delegation").toBeGreaterThan(0);
    expect(
      at(hitsA, EGRESS_REDIRECT) - before.redirect,
      "each by bpf_redirect with B's MAC learned from ARP",
    ).toBe(kernelFwd);
    expect(at(hitsA, EGRESS_PEER) - before.peer, 'none into the veth peer (mode redirect)').toBe(0);
    expect(at(hitsA, EGRESS_NEIGH) - before.neigh, 'none by the neighbour lookup').toBe(0);
    // B: --kernel-decap alone decapsulates what A's primary (templates) and A's program (kernel) sent
    expect(at(hitsB, DECAPSULATED) - before.decap, "B's program decapsulated all 40").toBe(40);
    expect((await decapOnB()) - before.inner, "B's tunnel socket got all 40").toBe(40);
    expect(await vx0Received(b), "none went through B's vx0").toBe(before.vx0);
    // B forwards nothing in the kernel: its dispatcher was not offered the forward map
    expect(mapEntries(await mapOf(b, 'sy_fwd')), "B's forward map stays empty").toBe(0);
    expect(at(hitsB, FORWARDED), "B's program forwarded nothing").toBe(0);
  }, 120_000);

  it("mode 0 in A's sy_egress (what --kernel-forward-egress neigh writes): forwards leave by bpf_redirect_neigh", async () => {
    const hitsA = await mapOf(a, 'sy_hits');
    const egress = await mapOf(a, 'sy_egress');
    // the value the router writes for --kernel-forward-egress neigh (mode 0)
    const value = encodeEgressConfig(
      { name: 'neigh', mode: 0 },
      { ifindex: 0, kind: 'veth', peerElsewhere: true },
      `${a.address}/24`,
    );
    execFileSync('bpftool', [
      'map',
      'update',
      'id',
      String(egress),
      'key',
      ...bpftoolHex(Buffer.alloc(4)),
      'value',
      ...bpftoolHex(value),
    ]);
    const fwd0 = hitCounter(hitsA, FORWARDED);
    const neigh0 = hitCounter(hitsA, EGRESS_NEIGH);
    const redirect0 = hitCounter(hitsA, EGRESS_REDIRECT);
    // a new call from the same (delegated) client socket: the kernel path from the first datagram
    const r = await client(20);
    expect(r).toEqual({ answered: 20, lost: 0, from: [`${pop.vip}:5060`] });
    const kernelFwd = hitCounter(hitsA, FORWARDED) - fwd0;
    expect(kernelFwd, 'still forwarded in the kernel').toBeGreaterThan(0);
    expect(hitCounter(hitsA, EGRESS_NEIGH) - neigh0, 'every one by the neighbour lookup').toBe(kernelFwd);
    expect(hitCounter(hitsA, EGRESS_REDIRECT), 'none by the cached next hop').toBe(redirect0);
  }, 120_000);
});
