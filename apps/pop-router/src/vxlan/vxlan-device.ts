/**
 * The kernel side of `vxlan` mode on one host (recipe verified in TOOLCHAIN.md): `vx0` (a VXLAN device on
 * `--vxlan-port` with `--vni`, local `--address`, no learning) carrying this host's MAC (`vxlanMacFor(id)`, the
 * destination MAC every other host's template holds), the inner address on `lo`, and reverse-path filtering off
 * (`all`, `default`, `vx0`): a decapsulated datagram carries the client's source address, which the host would
 * otherwise route back another way and drop.
 *
 * {@link vxlanPlan} is pure (what is present in, what is missing and the commands that create it out); the adapter
 * {@link VxlanDevice} reads the state, runs `ip`, writes `/proc/sys`, and undoes on stop exactly what it created.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { vxlanMacFor } from '@switchyard/pop-wire';
import { PopRouterError } from '../errors.js';

export const VXLAN_DEVICE = 'vx0';

export interface VxlanWant {
  id: string;
  address: string;
  vxlanPort: number;
  vni: number;
  innerAddress: string;
}

/** What the host has now. */
export interface VxlanState {
  /** vx0's MAC, or undefined when vx0 does not exist. */
  mac: string | undefined;
  innerPresent: boolean;
  /** rp_filter per conf name (`all`, `default`, `vx0`); missing entries unknown. */
  rpFilter: Partial<Record<'all' | 'default' | typeof VXLAN_DEVICE, number>>;
}

export interface VxlanPlan {
  /** Human-readable names of what is missing or wrong (empty: ready). */
  missing: string[];
  /** `ip` argument lists that create what is missing, in order. */
  create: string[][];
  /** `ip` argument lists that undo `create` (in order). */
  undo: string[][];
}

/** Pure: from the wanted set-up and the host's state, what is missing and how to make it. */
export function vxlanPlan(want: VxlanWant, have: VxlanState): VxlanPlan {
  const mac = vxlanMacFor(want.id);
  const missing: string[] = [];
  const create: string[][] = [];
  const undo: string[][] = [];
  if (have.mac === undefined) {
    missing.push(
      `interface ${VXLAN_DEVICE} (ip link add ${VXLAN_DEVICE} type vxlan id ${want.vni} dstport ${want.vxlanPort} ` +
        `local ${want.address} nolearning)`,
    );
    create.push(
      [
        'link',
        'add',
        VXLAN_DEVICE,
        'type',
        'vxlan',
        'id',
        String(want.vni),
        'dstport',
        String(want.vxlanPort),
        'local',
        want.address,
        'nolearning',
      ],
      ['link', 'set', VXLAN_DEVICE, 'address', mac],
      ['link', 'set', VXLAN_DEVICE, 'up'],
    );
    undo.push(['link', 'del', VXLAN_DEVICE]);
  } else if (have.mac.toLowerCase() !== mac) {
    // the other hosts' templates address this MAC: with another one the kernel drops every decapsulated frame
    missing.push(
      `${VXLAN_DEVICE} MAC ${mac} (it has ${have.mac}; ip link set ${VXLAN_DEVICE} address ${mac})`,
    );
    create.push(['link', 'set', VXLAN_DEVICE, 'address', mac]);
    undo.push(['link', 'set', VXLAN_DEVICE, 'address', have.mac]);
  }
  if (!have.innerPresent) {
    missing.push(`inner address ${want.innerAddress} on lo (ip addr add ${want.innerAddress}/32 dev lo)`);
    create.push(['addr', 'add', `${want.innerAddress}/32`, 'dev', 'lo']);
    undo.unshift(['addr', 'del', `${want.innerAddress}/32`, 'dev', 'lo']);
  }
  return { missing, create, undo };
}

/** The rp_filter settings that must be 0 (the `vx0` one only once vx0 exists). */
export const RP_FILTER_CONFS = ['all', 'default', VXLAN_DEVICE] as const;

function ip(args: string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile('ip', args, { timeout: 10_000 }, (err, _out, stderr) =>
      err
        ? reject(
            new PopRouterError(
              'POP_ERR_VXLAN',
              `ip ${args.join(' ')}: ${String(stderr).trim() || err.message}`,
              {
                cause: err,
              },
            ),
          )
        : resolve(),
    ),
  );
}

function rpPath(conf: string): string {
  return `/proc/sys/net/ipv4/conf/${conf}/rp_filter`;
}

/** Reads the host's state (no root needed). */
export function readVxlanState(innerAddress: string): VxlanState {
  let mac: string | undefined;
  try {
    mac = fs.readFileSync(`/sys/class/net/${VXLAN_DEVICE}/address`, 'utf8').trim();
  } catch {
    mac = undefined;
  }
  const addrs = Object.values(os.networkInterfaces()).flatMap((l) => (l ?? []).map((a) => a.address));
  const rpFilter: VxlanState['rpFilter'] = {};
  for (const c of RP_FILTER_CONFS) {
    try {
      rpFilter[c] = Number(fs.readFileSync(rpPath(c), 'utf8').trim());
    } catch {
      // no such conf (vx0 absent)
    }
  }
  return { mac, innerPresent: addrs.includes(innerAddress), rpFilter };
}

/** The adapter: checks, or (root, `--vxlan-setup`) creates, and on stop removes what it created. */
export class VxlanDevice {
  private undo: string[][] = [];
  private rpRestore: [string, number][] = [];

  constructor(private readonly want: VxlanWant) {}

  /** Throws POP_ERR_VXLAN naming everything missing. */
  check(): void {
    const plan = vxlanPlan(this.want, readVxlanState(this.want.innerAddress));
    const rp = this.rpFiltersOn();
    const missing = [...plan.missing, ...rp.map((c) => `${rpPath(c)} = 0`)];
    if (missing.length)
      throw new PopRouterError(
        'POP_ERR_VXLAN',
        `vxlan mode: missing ${missing.join('; ')} (run as root with --vxlan-setup, or see docs/pop-router.md)`,
        { details: { missing } },
      );
  }

  /** Creates what is missing (root only); records how to undo it. Throws POP_ERR_VXLAN. */
  async setUp(): Promise<string[]> {
    const plan = vxlanPlan(this.want, readVxlanState(this.want.innerAddress));
    if (plan.create.length && process.getuid?.() !== 0)
      throw new PopRouterError(
        'POP_ERR_VXLAN',
        `--vxlan-setup needs root; missing ${plan.missing.join('; ')}`,
        { details: { missing: plan.missing } },
      );
    try {
      for (const [i, args] of plan.create.entries()) {
        await ip(args);
        // from the first change on, tear-down undoes the plan (undoing a step that never ran fails harmlessly)
        if (i === 0) this.undo = plan.undo.slice();
      }
      for (const c of this.rpFiltersOn()) {
        const old = Number(fs.readFileSync(rpPath(c), 'utf8').trim());
        fs.writeFileSync(rpPath(c), '0');
        this.rpRestore.push([c, old]);
      }
    } catch (err) {
      await this.tearDown();
      throw err instanceof PopRouterError
        ? err
        : new PopRouterError('POP_ERR_VXLAN', `vxlan set-up: ${(err as Error).message}`, { cause: err });
    }
    this.check();
    return plan.missing;
  }

  /** Undoes what {@link setUp} created (best effort; never throws). */
  async tearDown(): Promise<void> {
    for (const [c, v] of this.rpRestore.splice(0).reverse()) {
      try {
        fs.writeFileSync(rpPath(c), String(v));
      } catch {
        // vx0's conf went with vx0
      }
    }
    for (const args of this.undo.splice(0)) await ip(args).catch(() => undefined);
  }

  private rpFiltersOn(): string[] {
    const s = readVxlanState(this.want.innerAddress);
    return RP_FILTER_CONFS.filter((c) => (s.rpFilter[c] ?? 0) !== 0);
  }
}
