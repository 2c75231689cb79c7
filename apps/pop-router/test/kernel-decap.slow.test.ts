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
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildVxlanTemplate, encapsulateVxlan, vxlanMacFor } from '@switchyard/pop-wire';
import {
  NETNS_POP_CLIENT,
  NETNS_POP_INTERNAL,
  NetnsPop,
  waitFor,
  type NetnsPopHost,
} from '@switchyard/testing';

const root = process.getuid?.() === 0;
const has = (cmd: string, arg = '--version') => {
  try {
    execFileSync(cmd, [arg], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const object = path.join(import.meta.dirname, '../dist/bpf/kernel-forward.bpf.o');
const skip = !root
  ? 'needs root'
  : !has('bpftool')
    ? 'needs bpftool (apt-get install bpftool)'
    : !has('nft', '--version')
      ? 'needs nft (apt-get install nftables)'
      : !fs.existsSync(object)
        ? `needs ${object} (built by the pop-router build when clang is installed)`
        : '';
if (skip) console.warn(`kernel decapsulation suite skipped: ${skip}`);

const CONFERENCE = 'kdconf';
const CLIENT_PORT = 42_000 + (process.pid % 1000);
/** sy_hits indices (bpf/kernel-forward.bpf.c) */
const FORWARDED = 0;
const DECAPSULATED = 2;
const REFUSED_OUTSIDE = 3;

/** One OPTIONS at a time from one source port; prints {answered, lost, from} (`from`: the answers' source). */
const CLIENT = `
const dgram = require('node:dgram');
const [target, port, conf, count, src, call] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
let answered = 0, lost = 0, n = 0, timer; const from = new Set();
function next() {
  if (n >= Number(count)) { console.log(JSON.stringify({ answered, lost, from: [...from] })); s.close(); return; }
  n++;
  const m = 'OPTIONS sip:' + conf + '@' + target + ':' + port + ' SIP/2.0\\r\\nVia: SIP/2.0/UDP 0.0.0.0:' + src +
    ';branch=z9hG4bK-kd' + n + ';rport\\r\\nFrom: <sip:kd@client>;tag=kd\\r\\nTo: <sip:' + conf + '@' + target +
    '>\\r\\nCall-ID: kd-' + src + '-' + call + '\\r\\nCSeq: ' + n + ' OPTIONS\\r\\nMax-Forwards: 70\\r\\nContent-Length: 0\\r\\n\\r\\n';
  s.send(m, Number(port), target);
  timer = setTimeout(() => { lost++; next(); }, 1000);
}
s.on('message', (_m, r) => { clearTimeout(timer); answered++; from.add(r.address + ':' + r.port); next(); });
s.bind(Number(src), () => next());
`;

const bpftool = (...args: string[]) =>
  JSON.parse(execFileSync('bpftool', ['-j', ...args], { encoding: 'utf8' }));

describe.skipIf(skip !== '')('kernel decapsulation (tc eBPF on the owner, namespace POP of 2 hosts)', () => {
  let pop: NetnsPop;
  let a: NetnsPopHost;
  let b: NetnsPopHost;

  beforeAll(async () => {
    pop = await NetnsPop.start({
      prefix: 'popfwd5-kd',
      name: 'd',
      hosts: 2,
      workers: 1,
      ecmp: false,
      gossip: 'unicast',
      vip: '198.19.0.130',
      inner: '198.19.0.131',
      addressBase: 50,
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

  /** The id of the program's map `name` on host h (tc in h's namespace; map ids are global). */
  const mapOf = async (h: NetnsPopHost, name: string): Promise<number> => {
    const shown = JSON.parse(
      await pop.lab.run(h.ns, 'tc', ['-j', 'filter', 'show', 'dev', 'pop0', 'ingress']),
    ) as {
      options?: { prog?: { id?: number } };
    }[];
    const prog = shown.find((f) => f.options?.prog?.id)?.options?.prog?.id;
    expect(prog, `a BPF program at tc ingress of ${h.id} pop0`).toBeDefined();
    for (const id of (bpftool('prog', 'show', 'id', String(prog)) as { map_ids: number[] }).map_ids)
      if ((bpftool('map', 'show', 'id', String(id)) as { name: string }).name === name) return id;
    throw new Error(`no map ${name} on ${h.id}`);
  };
  /** One counter of sy_hits, summed over CPUs. */
  const counter = (mapId: number, index: number) =>
    (bpftool('map', 'dump', 'id', String(mapId)) as { key: number; values: { value: string[] }[] }[])[
      index
    ]!.values.reduce(
      (s, c) => s + Number(Buffer.from(c.value.map((x) => parseInt(x, 16))).readBigUInt64LE(0)),
      0,
    );
  const vx0Received = async (h: NetnsPopHost) =>
    (
      JSON.parse(await pop.lab.run(h.ns, 'ip', ['-j', '-s', 'link', 'show', 'vx0'])) as {
        stats64: { rx: { packets: number } };
      }[]
    )[0]!.stats64.rx.packets;
  const decapOnB = () => pop.dispatcherMetric(b, 'sipdisp_decapsulated_total');

  let calls = 0;
  const client = async (count: number) =>
    JSON.parse(
      (
        await pop.lab.run(
          pop.client,
          process.execPath,
          ['-e', CLIENT, pop.vip, '5060', CONFERENCE, String(count), String(CLIENT_PORT), String(++calls)],
          60_000,
        )
      )
        .trim()
        .split('\n')
        .at(-1)!,
    ) as { answered: number; lost: number; from: string[] };

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
  }, 120_000);

  it('fence: VXLAN from outside the POP network is not decapsulated by the program nor delivered; from A it is', async () => {
    await pop.lab.nft(
      b.ns,
      [
        'table inet vxlanfence {',
        '  chain input {',
        '    type filter hook input priority 0; policy accept;',
        `    udp dport 4789 ip saddr != ${NETNS_POP_INTERNAL} counter drop`,
        '  }',
        '}',
      ].join('\n'),
    );
    const template = buildVxlanTemplate({
      vni: 42,
      dstMac: vxlanMacFor(b.id),
      srcMac: vxlanMacFor('outside'),
      innerAddress: pop.inner,
      innerPort: 5060,
    });
    const packet = (tag: string) => {
      const sip = Buffer.from(
        `OPTIONS sip:${tag}@${pop.vip} SIP/2.0\r\nVia: SIP/2.0/UDP ${NETNS_POP_CLIENT}:5999;branch=z9hG4bK-${tag}\r\n` +
          `From: <sip:x@${NETNS_POP_CLIENT}>;tag=1\r\nTo: <sip:${tag}@${pop.vip}>\r\nCall-ID: ${tag}\r\n` +
          'CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n',
      );
      const out = Buffer.alloc(sip.length + 100);
      const n = encapsulateVxlan(out, template, NETNS_POP_CLIENT, 5999, sip);
      return out.subarray(0, n).toString('hex');
    };
    const send = (ns: string, hex: string) =>
      pop.lab.run(ns, process.execPath, [
        '-e',
        `const s=require('dgram').createSocket('udp4');s.send(Buffer.from(process.argv[1],'hex'),4789,process.argv[2],()=>s.close())`,
        hex,
        b.address,
      ]);
    const hitsB = await mapOf(b, 'sy_hits');
    const refused0 = counter(hitsB, REFUSED_OUTSIDE);
    const decap0 = counter(hitsB, DECAPSULATED);
    const inner0 = await decapOnB();
    // from the client namespace (outside the POP network), routed to B through the router
    await send(pop.client, packet('kd-fence-out'));
    await waitFor('the fence counted the outside packet', async () =>
      /counter packets [1-9]/.test(await pop.lab.run(b.ns, 'nft', ['list', 'table', 'inet', 'vxlanfence'])),
    );
    expect(counter(hitsB, REFUSED_OUTSIDE) - refused0, 'the program refused it').toBe(1);
    expect(counter(hitsB, DECAPSULATED), 'the program did not decapsulate it').toBe(decap0);
    expect(await decapOnB(), 'not delivered').toBe(inner0);
    // the same packet from A (inside) is decapsulated by the program and delivered to the tunnel socket
    await send(a.ns, packet('kd-fence-in'));
    await waitFor('the inside packet delivered on B', async () => (await decapOnB()) === inner0 + 1);
    expect(counter(hitsB, DECAPSULATED) - decap0).toBe(1);
    expect(counter(hitsB, REFUSED_OUTSIDE) - refused0).toBe(1);
  }, 120_000);
});
