/**
 * The thin adapter of {@link KernelForwardTable}: writes and deletes entries of the router's BPF forward table
 * (`bpftool map update id …`, one child process at a time: a control plane, a few per delegated client), reads the
 * entries' last-hit times for the idle sweep and the program's hit counter. Needs root (CAP_BPF + CAP_NET_ADMIN),
 * like the router that attached the program. Layout of key and value: `apps/pop-router/bpf/kernel-forward.bpf.c`.
 */
import { execFile } from 'node:child_process';
import type { Logger } from '@switchyard/core';
import { parseIpv4, type KernelForwardWire } from '@switchyard/pop-wire';
import type { KernelForwardAction, ForwardClient } from './kernel-forward-table.js';
import type { PopHost } from './pop-data-plane.js';

export const FWD_KEY_BYTES = 8;
export const FWD_VALUE_BYTES = 56;
/** Offsets in the 50-byte vxlan template (libs/pop-wire vxlan-template.ts). */
const T_INNER_DST = 22 + 16;
const T_INNER_PORT = 42 + 2;

/** The BPF key of a client (network byte order as on the wire), or undefined for a non-IPv4 address. */
export function encodeFwdKey(c: ForwardClient): Buffer | undefined {
  const a = parseIpv4(c.address);
  if (a < 0) return undefined;
  const k = Buffer.alloc(FWD_KEY_BYTES);
  k.writeUInt32BE(a >>> 0, 0);
  k.writeUInt16BE(c.port, 4);
  k.writeUInt16BE(c.servicePort, 6);
  return k;
}

/** Where the encapsulated packets to an owner leave this host. */
export interface OwnerRoute {
  /** This host's source address towards the owner. */
  source: string;
  ifindex: number;
}

/** The BPF value for an owner host (its template, its tunnel endpoint, our route to it). */
export function encodeFwdValue(host: PopHost, route: OwnerRoute): Buffer | undefined {
  const src = parseIpv4(route.source);
  const dst = parseIpv4(host.address);
  if (src < 0 || dst < 0 || host.template.length < 50) return undefined;
  const v = Buffer.alloc(FWD_VALUE_BYTES);
  v.writeUInt32BE(src >>> 0, 0);
  v.writeUInt32BE(dst >>> 0, 4);
  v.writeUInt16BE(host.port, 8);
  host.template.copy(v, 10, T_INNER_PORT, T_INNER_PORT + 2);
  host.template.copy(v, 12, T_INNER_DST, T_INNER_DST + 4);
  v.writeUInt32LE(route.ifindex, 16);
  host.template.copy(v, 20, 0, 22);
  return v;
}

const hex = (b: Buffer) => [...b].map((x) => x.toString(16).padStart(2, '0'));

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { timeout: 10_000, maxBuffer: 64 * 1024 * 1024 }, (err, out, stderr) =>
      err
        ? reject(new Error(`${cmd} ${args.slice(0, 4).join(' ')}: ${String(stderr).trim() || err.message}`))
        : resolve(String(out)),
    ),
  );
}

const bytesOf = (a: unknown): Buffer =>
  Buffer.from(Array.isArray(a) ? a.map((x) => parseInt(String(x), 16)) : []);

export class KernelForwardMap {
  /** Kernel hits summed over CPUs at the last read ([0] forwarded, [1] not encapsulated). */
  hits = 0;
  passed = 0;
  writeFailed = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly routes = new Map<string, OwnerRoute>();
  /** Each entry's last-hit time (ns, the program's clock) at the previous read. */
  private readonly lastSeen = new Map<string, bigint>();

  constructor(
    readonly wire: KernelForwardWire,
    private readonly components: {
      logger: Logger;
      /** The owner host as the data plane knows it now (undefined: gone). */
      host: (id: string) => PopHost | undefined;
      /** An install could not be written: the table forgets the entry. */
      failed: (key: string) => void;
    },
  ) {}

  /** Applies the table's actions in order (asynchronously; serialised). */
  apply(actions: readonly KernelForwardAction[]): void {
    for (const a of actions) this.enqueue(() => (a.type === 'install' ? this.install(a) : this.remove(a)));
  }

  /** Resolves once everything queued so far is written (tests, stop). */
  settled(): Promise<void> {
    return this.queue.then(() => undefined);
  }

  /** Reads the entries' last-hit times; calls `hit(key)` for each that changed, and refreshes the hit counter. */
  async read(hit: (key: string) => void): Promise<void> {
    await this.enqueue(async () => {
      const dump = JSON.parse(
        await run('bpftool', ['-j', 'map', 'dump', 'id', String(this.wire.fwdMap)]),
      ) as {
        key?: unknown;
        value?: unknown;
      }[];
      for (const e of dump) {
        const k = bytesOf(e.key);
        const v = bytesOf(e.value);
        if (k.length !== FWD_KEY_BYTES || v.length !== FWD_VALUE_BYTES) continue;
        const key = `${k[0]}.${k[1]}.${k[2]}.${k[3]}|${k.readUInt16BE(4)}|${k.readUInt16BE(6)}`;
        const last = v.readBigUInt64LE(48);
        if (last !== 0n && last !== this.lastSeen.get(key)) hit(key);
        this.lastSeen.set(key, last);
      }
      const hits = JSON.parse(
        await run('bpftool', ['-j', 'map', 'dump', 'id', String(this.wire.hitsMap)]),
      ) as {
        key?: unknown;
        values?: { value?: unknown }[];
      }[];
      const sum = (i: number) =>
        (hits[i]?.values ?? []).reduce((s, c) => {
          const b = bytesOf(c.value);
          return s + (b.length === 8 ? Number(b.readBigUInt64LE(0)) : 0);
        }, 0);
      this.hits = sum(0);
      this.passed = sum(1);
    }).catch((err: unknown) =>
      this.components.logger.warn({ err }, 'kernel forward: reading the maps failed'),
    );
  }

  private enqueue<T>(f: () => Promise<T>): Promise<T> {
    const p = this.queue.then(f);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async install(a: Extract<KernelForwardAction, { type: 'install' }>): Promise<void> {
    try {
      const host = this.components.host(a.owner);
      const key = encodeFwdKey(a.client);
      if (!host || !key) throw new Error(`owner ${a.owner} unknown or client not IPv4`);
      const route = await this.route(host.address);
      const value = encodeFwdValue(host, route);
      if (!value) throw new Error(`cannot encode the entry for ${a.owner}`);
      await run('bpftool', [
        'map',
        'update',
        'id',
        String(this.wire.fwdMap),
        'key',
        'hex',
        ...hex(key),
        'value',
        'hex',
        ...hex(value),
      ]);
    } catch (err) {
      this.writeFailed++;
      this.components.logger.warn({ err, client: a.key }, 'kernel forward: entry not written');
      this.components.failed(a.key);
    }
  }

  private async remove(a: Extract<KernelForwardAction, { type: 'remove' }>): Promise<void> {
    const key = encodeFwdKey(a.client);
    this.lastSeen.delete(a.key);
    if (!key) return;
    // a missing entry (its install failed) is not an error
    await run('bpftool', ['map', 'delete', 'id', String(this.wire.fwdMap), 'key', 'hex', ...hex(key)]).catch(
      () => undefined,
    );
  }

  /** This host's source address and interface towards `address` (`ip route get`), cached per owner address. */
  private async route(address: string): Promise<OwnerRoute> {
    const cached = this.routes.get(address);
    if (cached) return cached;
    const r = (
      JSON.parse(await run('ip', ['-j', 'route', 'get', address])) as { dev?: string; prefsrc?: string }[]
    )[0];
    if (!r?.dev || !r.prefsrc) throw new Error(`no route to ${address}`);
    const link = (
      JSON.parse(await run('ip', ['-j', 'link', 'show', 'dev', r.dev])) as { ifindex?: number }[]
    )[0];
    if (!link?.ifindex) throw new Error(`no ifindex for ${r.dev}`);
    const route = { source: r.prefsrc, ifindex: link.ifindex };
    this.routes.set(address, route);
    return route;
  }
}
