/**
 * The forward's user-space cost, A/B between two builds in one process (issue 10: CPU per forwarded datagram). Each
 * build's `PopIngress` (the primary's POP hook, loaded from `<root>/apps/host-dispatcher/dist/primary/pop-ingress.js`:
 * two builds cannot both be imported through the package's exports map) gets the same vxlan table — a conference
 * owned by another host whose tunnel endpoint is a UDP sink in a child process — and forwards the same datagrams:
 * per datagram the key scan (`extractSipKeys`, as the primary does), the decision, the encapsulation and the send
 * syscall. CPU time of this process (`process.cpuUsage`, user + system) per datagram, rounds alternating between the
 * builds, medians. Beside them, `send-only`: one unconnected `dgram` send of the bare payload per datagram — the send
 * half of a plain Node relay, the floor of any user-space forward. Nothing here receives (the sink is another
 * process), so the figures are the forwarding half only; the netns `pop-forward` benchmark measures the whole path.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Registry } from 'prom-client';
import { extractSipKeys } from '@switchyard/affinity';
import { ManualClock, parseCli, silentLogger, type CliSpec } from '@switchyard/core';
import { buildVxlanTemplate, encodeLinkFrame, LINK_FRAME_TABLE, vxlanMacFor } from '@switchyard/pop-wire';
import { int, median } from './pop-convergence.js';
import type { Subcommand } from './subcommand.js';

export interface PopForwardMicroOptions {
  rounds: number;
  datagrams: number;
  /** Root of a second checkout (built) to compare against; empty: this build only. */
  baseline: string;
  out: string;
}

export interface MicroRound {
  variant: string;
  round: number;
  datagrams: number;
  received: number;
  cpuUsPerDatagram: number;
  loadavg: number;
}

/** The slice of PopIngress both builds have (the older one takes `sendDatagram`, the newer its own sockets). */
interface IngressLike {
  unowned(packet: object, keys: object): string;
  onRouterFrame(frame: Buffer): void;
  close?(): void;
}
type IngressCtor = new (components: Record<string, unknown>) => IngressLike;

const spec: CliSpec = {
  name: 'pop-forward-micro',
  summary:
    'CPU per forwarded datagram of the POP hook (key scan, decide, vxlan encapsulation, send), A/B between two builds',
  options: {
    rounds: { type: 'string', doc: 'rounds per variant (alternating)', defaultText: '9' },
    datagrams: { type: 'string', doc: 'datagrams per round', defaultText: '20000' },
    baseline: {
      type: 'string',
      doc: 'root of another built checkout to compare against',
      defaultText: 'none',
    },
    quick: { type: 'boolean', doc: 'smoke run: 2 rounds of 500 datagrams' },
    out: { type: 'string', doc: 'report directory', defaultText: 'docs/benchmarks' },
  },
};

export function parsePopForwardMicroOptions(argv: string[]): PopForwardMicroOptions | { help: string } {
  const r = parseCli(spec, argv, {});
  if (r.help) return { help: r.text };
  const v = r.values;
  const quick = v['quick'] === true;
  return {
    rounds: int(v['rounds'], quick ? 2 : 9, 'rounds'),
    datagrams: int(v['datagrams'], quick ? 500 : 20_000, 'datagrams'),
    baseline: String(v['baseline'] ?? ''),
    out: String(v['out'] ?? 'docs/benchmarks'),
  };
}

/** This checkout's root (tools/bench/{src,dist}/ → ../../..). */
const ROOT = path.resolve(import.meta.dirname, '..', '..', '..');

async function loadIngress(root: string): Promise<IngressCtor> {
  const file = path.join(root, 'apps', 'host-dispatcher', 'dist', 'primary', 'pop-ingress.js');
  if (!fs.existsSync(file))
    throw new Error(`${file} not found: build @switchyard/host-dispatcher there first`);
  const m = (await import(pathToFileURL(file).href)) as { PopIngress: IngressCtor };
  return m.PopIngress;
}

/** A UDP sink in a child process; resolves its port and a counter read. */
async function startSink(): Promise<{ port: number; child: ChildProcess; count(): Promise<number> }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const s=require('node:dgram').createSocket('udp4');let n=0;s.on('message',()=>n++);` +
        `try{s.bind(0,'127.0.9.200',()=>{try{s.setRecvBufferSize(8<<20)}catch{};process.send(s.address().port)})}catch(e){process.exit(1)}` +
        `process.on('message',()=>process.send(n));process.on('disconnect',()=>process.exit(0));`,
    ],
    { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (p) => resolve(Number(p)));
    child.once('exit', (code) => reject(new Error(`sink exited ${code}`)));
  });
  return {
    port,
    child,
    count: () =>
      new Promise<number>((resolve) => {
        child.once('message', (n) => resolve(Number(n)));
        child.send('count');
      }),
  };
}

function datagram(i: number): Buffer {
  return Buffer.from(
    `OPTIONS sip:microbench@pop SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.0.2:${5000 + (i % 64)};branch=z9hG4bK${i}\r\n` +
      `Max-Forwards: 70\r\nFrom: <sip:probe@198.18.0.2>;tag=f${i}\r\nTo: <sip:microbench@pop>\r\n` +
      `Call-ID: micro-${i}@198.18.0.2\r\nCSeq: ${i} OPTIONS\r\nContent-Length: 0\r\n\r\n`,
  );
}

const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

export async function runPopForwardMicro(o: PopForwardMicroOptions, command: string): Promise<MicroRound[]> {
  const sink = await startSink();
  const relaySock = dgram.createSocket('udp4');
  const oldSock = dgram.createSocket('udp4');
  const template = buildVxlanTemplate({
    vni: 42,
    dstMac: vxlanMacFor('h2'),
    srcMac: vxlanMacFor('h1'),
    innerAddress: '198.19.0.101',
    innerPort: 5060,
  }).toString('base64');
  const table = [
    encodeLinkFrame(LINK_FRAME_TABLE, {
      kind: 'snapshot',
      self: 'h1',
      mode: 'vxlan',
      draining: false,
      hosts: [{ id: 'h2', address: '127.0.9.200', port: sink.port, template, alive: true }],
    }),
    encodeLinkFrame(LINK_FRAME_TABLE, { kind: 'delta', owners: [['microbench', 'h2']] }),
  ];
  const make = (Ctor: IngressCtor): IngressLike => {
    const ing = new Ctor({
      clock: new ManualClock(),
      logger: silentLogger,
      registry: new Registry(),
      send: () => undefined,
      // the older build's wiring in the dispatcher (one unconnected socket); the newer build ignores it
      sendDatagram: (bytes: Buffer, length: number, address: string, port: number) =>
        oldSock.send(bytes, 0, length, port, address),
    });
    for (const f of table) ing.onRouterFrame(f);
    return ing;
  };
  const variants: Array<{ name: string; forward: (msg: Buffer, i: number) => void; close(): void }> = [];
  for (const [name, root] of [
    ['this build', ROOT],
    ...(o.baseline ? [['baseline', path.resolve(o.baseline)] as const] : []),
  ] as const) {
    const ing = make(await loadIngress(root));
    variants.push({
      name,
      forward: (msg, i) => {
        const k = extractSipKeys(msg);
        if (!k.ok) throw new Error(k.reason);
        const v = ing.unowned(
          {
            payload: msg,
            address: '198.18.0.2',
            port: 5000 + (i % 64),
            local: 0,
            transport: 'udp',
            injected: false,
          },
          k.keys,
        );
        if (v !== 'forwarded') throw new Error(`${name}: not forwarded (${v})`);
      },
      close: () => ing.close?.(),
    });
  }
  variants.push({
    name: 'send-only',
    forward: (msg) => relaySock.send(msg, sink.port, '127.0.9.200'),
    close: () => undefined,
  });
  const payloads = Array.from({ length: 256 }, (_, i) => datagram(i));
  const results: MicroRound[] = [];
  try {
    // warm-up (JIT, the connected sockets), not recorded
    for (const v of variants) for (let i = 0; i < 2000; i++) v.forward(payloads[i & 255]!, i);
    await new Promise((r) => setTimeout(r, 200));
    for (let round = 1; round <= o.rounds; round++)
      for (let k = 0; k < variants.length; k++) {
        const v = variants[(k + round - 1) % variants.length]!;
        const before = await sink.count();
        const c0 = process.cpuUsage();
        for (let i = 0; i < o.datagrams; i++) {
          v.forward(payloads[i & 255]!, i);
          // let queued sends and the loop's I/O run, as between a real ingress's datagrams
          if ((i & 63) === 63) await yieldToLoop();
        }
        await yieldToLoop();
        const c = process.cpuUsage(c0);
        await new Promise((r) => setTimeout(r, 50));
        const received = (await sink.count()) - before;
        results.push({
          variant: v.name,
          round,
          datagrams: o.datagrams,
          received,
          cpuUsPerDatagram: (c.user + c.system) / o.datagrams,
          loadavg: os.loadavg()[0]!,
        });
      }
  } finally {
    for (const v of variants) v.close();
    relaySock.close();
    oldSock.close();
    sink.child.disconnect();
  }
  const md = renderPopForwardMicro(results, o, command);
  fs.mkdirSync(o.out, { recursive: true });
  fs.writeFileSync(path.join(o.out, 'pop-router-forward-micro.md'), md);
  fs.writeFileSync(
    path.join(o.out, 'pop-router-forward-micro.json'),
    `${JSON.stringify({ benchmark: 'pop-forward-micro', command, date: new Date().toISOString(), options: o, results }, null, 2)}\n`,
  );
  process.stdout.write(md);
  return results;
}

export function renderPopForwardMicro(
  results: MicroRound[],
  o: PopForwardMicroOptions,
  command: string,
): string {
  const names = [...new Set(results.map((r) => r.variant))];
  const med = (n: string) => median(results.filter((r) => r.variant === n).map((r) => r.cpuUsPerDatagram));
  const load = os.loadavg();
  return [
    '# POP forward, user-space half: CPU per forwarded datagram (A/B)',
    '',
    `Command: \`${command}\``,
    '',
    `Date: ${new Date().toISOString()}; load average at the end (1/5/15 min): ${load.map((x) => x.toFixed(2)).join(' / ')}`,
    `(shared 2-core machine; per round in the last column). ${o.rounds} round(s) × ${o.datagrams} datagrams per variant,`,
    'variants alternating; CPU of the forwarding process (`process.cpuUsage`, user + system) per datagram, medians.',
    "Per datagram: the primary's key scan, the POP hook's decision, vxlan encapsulation and the send syscall into a",
    'UDP sink in another process; `send-only` is one unconnected send of the bare payload (a Node relay’s send half).',
    '',
    '| variant | CPU µs/datagram (median) | × send-only |',
    '| ------- | -----------------------: | ----------: |',
    ...names.map((n) => `| ${n} | ${med(n).toFixed(2)} | ${(med(n) / med('send-only')).toFixed(2)} |`),
    '',
    '| round | variant | datagrams | received by the sink | CPU µs/datagram | load |',
    '| ----: | ------- | --------: | -------------------: | --------------: | ---: |',
    ...results.map(
      (r) =>
        `| ${r.round} | ${r.variant} | ${r.datagrams} | ${r.received} | ${r.cpuUsPerDatagram.toFixed(2)} | ${r.loadavg.toFixed(2)} |`,
    ),
    '',
  ].join('\n');
}

export const popForwardMicro: Subcommand = {
  summary: spec.summary,
  async run(argv) {
    const o = parsePopForwardMicroOptions(argv);
    if ('help' in o) {
      process.stdout.write(o.help);
      return 0;
    }
    const command = `node tools/bench/dist/main.js pop-forward-micro ${argv.join(' ')}`.trim();
    await runPopForwardMicro(o, command);
    return 0;
  },
};
