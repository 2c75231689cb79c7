/**
 * The router's side of the kernel forward (docs/pop-router.md "Kernel forward"): attaches the BPF classifier
 * (`bpf/kernel-forward.bpf.c`, compiled by this package's build when clang exists) at tc ingress (clsact,
 * direct-action) of the host's external interface, and finds the ids of its two maps for the dispatcher, which fills
 * the forward table. Map ids are global on the machine, so the dispatcher reaches them from any mount namespace
 * (nothing is pinned: `ip netns exec` gives each process its own /sys, where a pinned path would not be shared).
 * Detaching (stop) frees the program and its maps with it.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { KernelForwardWire } from '@switchyard/pop-wire';
import { PopRouterError } from '../errors.js';
import { CachedRead } from './cached-read.js';
import { bpftoolHex, encodeDecapConfig, type KernelDecapConfig } from './kernel-decap-config.js';
import {
  chooseEgress,
  encodeEgressConfig,
  parseEgressLink,
  type KernelEgress,
  type KernelEgressMode,
} from './kernel-egress-config.js';

/** A scrape of `/metrics` reads the program's counters (a bpftool child) at most this often; others share it. */
export const KERNEL_COUNTERS_MIN_INTERVAL_MS = 1000;

/** The program's counters (`sy_hits`, summed over CPUs; bpf/kernel-forward.bpf.c). */
export interface KernelCounters {
  forwarded: number;
  notEncapsulated: number;
  decapsulated: number;
  refusedOutside: number;
  notMatching: number;
  /** the forward's egress: with the cached next hop, of those into the veth peer, with the neighbour lookup */
  egressRedirect: number;
  egressPeer: number;
  egressNeigh: number;
  /** ARP senders the program learned (owners' MACs for the egress modes redirect and peer) */
  arpLearned: number;
}

/** tc filter priority of our classifier (one per device; `replace` keeps a restart idempotent). */
export const KERNEL_FORWARD_PREF = 49;

/** The compiled object this package's build writes (`npm run build-bpf`; skipped without clang). */
export function defaultKernelForwardObject(): string {
  // dist/kernel-forward/…js → dist/bpf/…; from the sources (vitest) src/kernel-forward → dist/bpf
  const here = import.meta.dirname;
  const fromDist = path.join(here, '../bpf/kernel-forward.bpf.o');
  return fs.existsSync(fromDist) ? fromDist : path.join(here, '../../dist/bpf/kernel-forward.bpf.o');
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { timeout: 20_000 }, (err, out, stderr) =>
      err
        ? reject(
            new PopRouterError(
              'POP_ERR_KERNEL_FORWARD',
              `${cmd} ${args.join(' ')}: ${String(stderr).trim() || err.message}`,
              { cause: err },
            ),
          )
        : resolve(String(out)),
    ),
  );
}

/** The interface holding `address` and the prefix length it has there (from `ip -j addr`). */
export async function interfaceOf(address: string): Promise<{ device: string; prefixlen: number }> {
  const list = JSON.parse(await run('ip', ['-j', 'addr', 'show'])) as {
    ifname: string;
    addr_info?: { local?: string; prefixlen?: number }[];
  }[];
  for (const l of list) {
    const a = l.addr_info?.find((x) => x.local === address);
    if (a) return { device: l.ifname, prefixlen: a.prefixlen ?? 32 };
  }
  throw new PopRouterError(
    'POP_ERR_KERNEL_FORWARD',
    `no interface holds ${address}: set --kernel-forward-device`,
  );
}

/** The interface holding `address` (from `ip -j addr`). */
export async function deviceOf(address: string): Promise<string> {
  return (await interfaceOf(address)).device;
}

export class KernelForwardAttach {
  private attached: string | undefined;
  /** the POP network the decapsulation admits (after attach with `decap`) */
  decapSources: string | undefined;
  /** how the forward's packets leave (after attach) */
  egress: KernelEgress | undefined;
  private hitsMap: number | undefined;
  private readonly counterReads: CachedRead<KernelCounters>;

  constructor(
    private readonly init: {
      device: string;
      address: string;
      object: string;
      /** `--kernel-decap`: the owner-side decapsulation's configuration (`sources` empty = --address's subnet) */
      decap?: KernelDecapConfig | undefined;
      /** `--kernel-forward-egress` (default auto) */
      egress?: KernelEgressMode | undefined;
      /** ms clock of the counters' read cache (default Date.now) */
      now?: () => number;
    },
  ) {
    this.counterReads = new CachedRead(
      () => this.readCounters(),
      init.now ?? Date.now,
      KERNEL_COUNTERS_MIN_INTERVAL_MS,
    );
  }

  /** Counter reads made with bpftool so far (scrapes within the minimum interval share one). */
  get counterReadCount(): number {
    return this.counterReads.reads;
  }

  /** Attaches the classifier and returns what the dispatcher needs. Throws POP_ERR_KERNEL_FORWARD, naming why. */
  async attach(): Promise<KernelForwardWire> {
    const object = this.init.object || defaultKernelForwardObject();
    if (!fs.existsSync(object))
      throw new PopRouterError(
        'POP_ERR_KERNEL_FORWARD',
        `BPF object ${object} not found (the build compiles it only when clang is installed)`,
      );
    const device = this.init.device || (await deviceOf(this.init.address));
    // clsact may exist already (another tc user): keep it
    await run('tc', ['qdisc', 'add', 'dev', device, 'clsact']).catch(async (err: unknown) => {
      const q = await run('tc', ['qdisc', 'show', 'dev', device]);
      if (!q.includes('clsact')) throw err;
    });
    const filter = ['dev', device, 'ingress', 'pref', String(KERNEL_FORWARD_PREF)];
    await run('tc', [
      'filter',
      'replace',
      ...filter,
      'handle',
      '1',
      'bpf',
      'direct-action',
      'obj',
      object,
      'sec',
      'tc',
    ]);
    this.attached = device;
    const shown = JSON.parse(await run('tc', ['-j', 'filter', 'show', ...filter])) as {
      options?: { prog?: { id?: number } };
    }[];
    const progId = shown.find((f) => f.options?.prog?.id)?.options?.prog?.id;
    if (!progId)
      throw new PopRouterError('POP_ERR_KERNEL_FORWARD', `no BPF program on ${device} after attaching`);
    const prog = JSON.parse(await run('bpftool', ['-j', 'prog', 'show', 'id', String(progId)])) as {
      map_ids?: number[];
    };
    const maps = new Map<string, number>();
    for (const id of prog.map_ids ?? []) {
      const m = JSON.parse(await run('bpftool', ['-j', 'map', 'show', 'id', String(id)])) as {
        name?: string;
      };
      if (m.name) maps.set(m.name, id);
    }
    const fwdMap = maps.get('sy_fwd');
    const hitsMap = maps.get('sy_hits');
    if (!fwdMap || !hitsMap)
      throw new PopRouterError('POP_ERR_KERNEL_FORWARD', `program ${progId} lacks its maps sy_fwd/sy_hits`);
    this.hitsMap = hitsMap;
    const egressMap = maps.get('sy_egress');
    if (!egressMap)
      throw new PopRouterError('POP_ERR_KERNEL_FORWARD', `program ${progId} lacks its map sy_egress`);
    const link = parseEgressLink(await run('ip', ['-j', '-d', 'link', 'show', 'dev', device]), device);
    const egress = chooseEgress(this.init.egress ?? 'auto', link, device);
    await run('bpftool', [
      'map',
      'update',
      'id',
      String(egressMap),
      'key',
      ...bpftoolHex(Buffer.alloc(4)),
      'value',
      ...bpftoolHex(
        encodeEgressConfig(
          egress,
          link,
          `${this.init.address}/${(await interfaceOf(this.init.address)).prefixlen}`,
        ),
      ),
    ]);
    this.egress = egress;
    const decap = this.init.decap;
    if (decap) {
      const decapMap = maps.get('sy_decap');
      if (!decapMap)
        throw new PopRouterError('POP_ERR_KERNEL_FORWARD', `program ${progId} lacks its map sy_decap`);
      const sources = decap.sources || `${decap.local}/${(await interfaceOf(this.init.address)).prefixlen}`;
      const value = encodeDecapConfig({ ...decap, sources });
      await run('bpftool', [
        'map',
        'update',
        'id',
        String(decapMap),
        'key',
        ...bpftoolHex(Buffer.alloc(4)),
        'value',
        ...bpftoolHex(value),
      ]);
      this.decapSources = sources;
    }
    return { fwdMap, hitsMap, device };
  }

  /**
   * The program's counters, read with bpftool at most once per {@link KERNEL_COUNTERS_MIN_INTERVAL_MS} (concurrent
   * and close scrapes share one read); undefined once detached.
   */
  async counters(): Promise<KernelCounters | undefined> {
    if (!this.hitsMap || !this.attached) return undefined;
    return this.counterReads.get();
  }

  /**
   * The decapsulation's counters (`sy_hits` [2]–[4]); undefined without `--kernel-decap` or once detached.
   */
  async decapCounters(): Promise<
    { decapsulated: number; refusedOutside: number; notMatching: number } | undefined
  > {
    if (!this.decapSources) return undefined;
    const c = await this.counters();
    return (
      c && { decapsulated: c.decapsulated, refusedOutside: c.refusedOutside, notMatching: c.notMatching }
    );
  }

  private async readCounters(): Promise<KernelCounters> {
    const dump = JSON.parse(await run('bpftool', ['-j', 'map', 'dump', 'id', String(this.hitsMap)])) as {
      key?: string[];
      values?: { value: string[] }[];
    }[];
    const sum = (i: number) =>
      (dump[i]?.values ?? []).reduce(
        (s, c) => s + Number(Buffer.from(c.value.map((x) => parseInt(x, 16))).readBigUInt64LE(0)),
        0,
      );
    return {
      forwarded: sum(0),
      notEncapsulated: sum(1),
      decapsulated: sum(2),
      refusedOutside: sum(3),
      notMatching: sum(4),
      egressRedirect: sum(5),
      egressPeer: sum(6),
      egressNeigh: sum(7),
      arpLearned: sum(8),
    };
  }

  /** Removes our classifier (its maps go with it); the clsact qdisc stays (harmless, maybe shared). */
  async detach(): Promise<void> {
    const device = this.attached;
    if (!device) return;
    this.attached = undefined;
    await run('tc', ['filter', 'del', 'dev', device, 'ingress', 'pref', String(KERNEL_FORWARD_PREF)]).catch(
      () => undefined,
    );
  }
}
