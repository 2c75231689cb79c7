/**
 * Shared by the namespace suites that look at the tc program (kernel-forward, kernel-decap) and the VXLAN fence
 * (netns-pop, kernel-decap): the OPTIONS client run in the client namespace, the program's maps read with bpftool,
 * the nftables fence and a hand-made VXLAN packet. Real tools only (tc, bpftool, nft); nothing here asserts.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { buildVxlanTemplate, encapsulateVxlan, vxlanMacFor } from '@switchyard/pop-wire';
import { NETNS_POP_CLIENT, NETNS_POP_INTERNAL, NetnsPop, type NetnsPopHost } from '@switchyard/testing';

/**
 * One OPTIONS at a time from one source port, each awaited for 1 s; prints {answered, lost, from} (`from`: the
 * answers' source addresses). argv: target, port, conference, count, source port, call number, tag.
 */
export const OPTIONS_CLIENT = `
const dgram = require('node:dgram');
const [target, port, conf, count, src, call, tag] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
let answered = 0, lost = 0, n = 0, timer; const from = new Set();
function next() {
  if (n >= Number(count)) { console.log(JSON.stringify({ answered, lost, from: [...from] })); s.close(); return; }
  n++;
  const m = 'OPTIONS sip:' + conf + '@' + target + ':' + port + ' SIP/2.0\\r\\nVia: SIP/2.0/UDP 0.0.0.0:' + src +
    ';branch=z9hG4bK-' + tag + n + ';rport\\r\\nFrom: <sip:' + tag + '@client>;tag=' + tag + '\\r\\nTo: <sip:' + conf +
    '@' + target + '>\\r\\nCall-ID: ' + tag + '-' + src + '-' + call + '\\r\\nCSeq: ' + n +
    ' OPTIONS\\r\\nMax-Forwards: 70\\r\\nContent-Length: 0\\r\\n\\r\\n';
  s.send(m, Number(port), target);
  timer = setTimeout(() => { lost++; next(); }, 1000);
}
s.on('message', (_m, r) => { clearTimeout(timer); answered++; from.add(r.address + ':' + r.port); next(); });
s.bind(Number(src), () => next());
`;

/**
 * The namespace POP the kernel suites use: 2 hosts of 1 worker, no ECMP (the VIP is routed to host A), unicast
 * gossip. `slot` keeps the suites apart when they run at once: VIP 198.19.0.(80 + 10·slot), the inner address one
 * above, host addresses from 10·slot.
 */
export function startKernelPop(o: {
  prefix: string;
  name: string;
  slot: number;
  hostEnv: (host: { id: string; index: number; address: string }) => Record<string, string>;
}): Promise<NetnsPop> {
  const vip = 80 + 10 * o.slot;
  return NetnsPop.start({
    prefix: o.prefix,
    name: o.name,
    hosts: 2,
    workers: 1,
    ecmp: false,
    gossip: 'unicast',
    vip: `198.19.0.${vip}`,
    inner: `198.19.0.${vip + 1}`,
    addressBase: 10 * o.slot,
    hostEnv: o.hostEnv,
  });
}

export interface ClientRun {
  answered: number;
  lost: number;
  from: string[];
}

/** Runs {@link OPTIONS_CLIENT} in the POP's client namespace towards its VIP:5060. */
export async function optionsClient(
  pop: NetnsPop,
  o: { conference: string; count: number; port: number; call: number; tag: string },
): Promise<ClientRun> {
  const out = await pop.lab.run(
    pop.client,
    process.execPath,
    [
      '-e',
      OPTIONS_CLIENT,
      pop.vip,
      '5060',
      o.conference,
      String(o.count),
      String(o.port),
      String(o.call),
      o.tag,
    ],
    60_000,
  );
  return JSON.parse(out.trim().split('\n').at(-1)!) as ClientRun;
}

const bpftool = (...args: string[]): unknown =>
  JSON.parse(execFileSync('bpftool', ['-j', ...args], { encoding: 'utf8' }));

/** The ids of the maps of the program at tc ingress of `h`'s pop0, by name (map ids are global). */
export async function programMaps(pop: NetnsPop, h: NetnsPopHost): Promise<Map<string, number>> {
  const shown = JSON.parse(
    await pop.lab.run(h.ns, 'tc', ['-j', 'filter', 'show', 'dev', 'pop0', 'ingress']),
  ) as {
    options?: { prog?: { id?: number } };
  }[];
  const prog = shown.find((f) => f.options?.prog?.id)?.options?.prog?.id;
  if (!prog) throw new Error(`no BPF program at tc ingress of ${h.id} pop0`);
  const byName = new Map<string, number>();
  for (const id of (bpftool('prog', 'show', 'id', String(prog)) as { map_ids: number[] }).map_ids)
    byName.set((bpftool('map', 'show', 'id', String(id)) as { name: string }).name, id);
  return byName;
}

/** Entries in a map. */
export const mapEntries = (id: number): number =>
  (bpftool('map', 'dump', 'id', String(id)) as unknown[]).length;

/** One counter of the per-CPU `sy_hits` array, summed over CPUs. */
export const hitCounter = (id: number, index: number): number =>
  (bpftool('map', 'dump', 'id', String(id)) as { values: { value: string[] }[] }[])[index]!.values.reduce(
    (s, c) => s + Number(Buffer.from(c.value.map((x) => parseInt(x, 16))).readBigUInt64LE(0)),
    0,
  );

/** The nftables fence of docs/pop-router.md on host `h`: UDP 4789 from outside the POP's internal network dropped. */
export function fenceVxlan(pop: NetnsPop, h: NetnsPopHost): Promise<void> {
  return pop.lab.nft(
    h.ns,
    [
      'table inet vxlanfence {',
      '  chain input {',
      '    type filter hook input priority 0; policy accept;',
      `    udp dport 4789 ip saddr != ${NETNS_POP_INTERNAL} counter drop`,
      '  }',
      '}',
    ].join('\n'),
  );
}

/** Whether the fence on `h` has dropped a packet. */
export async function fenceCounted(pop: NetnsPop, h: NetnsPopHost): Promise<boolean> {
  return /counter packets [1-9]/.test(
    await pop.lab.run(h.ns, 'nft', ['list', 'table', 'inet', 'vxlanfence']),
  );
}

/**
 * Sends from namespace `ns` to `to`:4789 a VXLAN packet made with a valid template for `to` (its vx0 MAC, the POP's
 * tunnel address): an OPTIONS from the client's address, Call-ID `tag`.
 */
export function sendVxlan(pop: NetnsPop, ns: string, to: NetnsPopHost, tag: string): Promise<string> {
  const template = buildVxlanTemplate({
    vni: 42,
    dstMac: vxlanMacFor(to.id),
    srcMac: vxlanMacFor('outside'),
    innerAddress: pop.inner,
    innerPort: 5060,
  });
  const c = NETNS_POP_CLIENT;
  const sip = Buffer.from(
    `OPTIONS sip:${tag}@${pop.vip} SIP/2.0\r\nVia: SIP/2.0/UDP ${c}:5999;branch=z9hG4bK-${tag}\r\n` +
      `From: <sip:x@${c}>;tag=1\r\nTo: <sip:${tag}@${pop.vip}>\r\nCall-ID: ${tag}\r\nCSeq: 1 OPTIONS\r\n` +
      'Content-Length: 0\r\n\r\n',
  );
  const out = Buffer.alloc(sip.length + 100);
  const n = encapsulateVxlan(out, template, c, 5999, sip);
  return pop.lab.run(ns, process.execPath, [
    '-e',
    `const s=require('dgram').createSocket('udp4');s.send(Buffer.from(process.argv[1],'hex'),4789,process.argv[2],()=>s.close())`,
    out.subarray(0, n).toString('hex'),
    to.address,
  ]);
}

/** The BPF object the pop-router build writes (when clang is installed). */
export const BPF_OBJECT = path.join(import.meta.dirname, '../dist/bpf/kernel-forward.bpf.o');

const has = (cmd: string) => {
  try {
    execFileSync(cmd, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** Why a suite that loads the tc program cannot run here ('' = it can): root, the tools, the built object. */
export function kernelSuiteSkip(tools: string[]): string {
  if (process.getuid?.() !== 0) return 'needs root';
  const missing = tools.find((t) => !has(t));
  if (missing) return `needs ${missing} (apt-get install ${missing === 'nft' ? 'nftables' : missing})`;
  if (!fs.existsSync(BPF_OBJECT))
    return `needs ${BPF_OBJECT} (built by the pop-router build when clang is installed)`;
  return '';
}

/**
 * Makes A resolve B's MAC again with its program attached (egress modes redirect/peer learn it from the ARP reply at
 * A's tc ingress): A's neighbour entries on pop0 are flushed and one UDP datagram from A to B (the discard port)
 * makes A's kernel ask. (Without it, whether the ARP between A and B happened before or after A's router attached the
 * program depends on start order.) The caller waits for the entry in A's `sy_nh`.
 */
export async function resolveNeighbour(pop: NetnsPop, a: NetnsPopHost, b: NetnsPopHost): Promise<void> {
  await pop.lab.run(a.ns, 'ip', ['neigh', 'flush', 'dev', 'pop0']);
  await pop.lab.run(a.ns, process.execPath, [
    '-e',
    `const s=require('dgram').createSocket('udp4');s.send('x',9,process.argv[1],()=>s.close())`,
    b.address,
  ]);
}
