/**
 * How the kernel forward's packets leave (`--kernel-forward-egress`, docs/pop-router.md "Kernel forward: the
 * egress"): the one entry of the BPF program's `sy_egress` map. Pure: the choice from the device's link info and the
 * bytes; the `ip -d link` and `bpftool map update` in kernel-forward-attach.ts. Layout mirrors `struct egress_cfg` in
 * bpf/kernel-forward.bpf.c (host byte order).
 */
import { PopRouterError } from '../errors.js';
import { parseCidr } from './kernel-decap-config.js';

export const KERNEL_EGRESS_MODES = ['auto', 'neigh', 'redirect', 'peer'] as const;
export type KernelEgressMode = (typeof KERNEL_EGRESS_MODES)[number];

/**
 * What the program does: 0 `bpf_redirect_neigh` each time, 1 the owner's MAC learned from ARP + `bpf_redirect`, 2 as
 * 1 + `bpf_redirect_peer` into the veth's peer.
 */
export type KernelEgress =
  { name: 'neigh'; mode: 0 } | { name: 'redirect'; mode: 1 } | { name: 'peer'; mode: 2 };

/** The attached device as `ip -j -d link show dev X` describes it. */
export interface EgressLink {
  ifindex: number;
  /** `linkinfo.info_kind` (veth, bridge, …; undefined for a physical NIC) */
  kind: string | undefined;
  /** a veth whose peer lives in another network namespace (`link_netnsid` present) */
  peerElsewhere: boolean;
}

/** sizeof(struct egress_cfg) */
export const EGRESS_CONFIG_BYTES = 16;

/** Parses `ip -j -d link show dev X`. Throws POP_ERR_KERNEL_FORWARD when it names no device. */
export function parseEgressLink(json: string, device: string): EgressLink {
  const list = JSON.parse(json) as {
    ifindex?: number;
    link_netnsid?: number;
    linkinfo?: { info_kind?: string };
  }[];
  const l = list[0];
  if (!l || typeof l.ifindex !== 'number')
    throw new PopRouterError('POP_ERR_KERNEL_FORWARD', `ip -d link show dev ${device}: no such device`);
  const kind = l.linkinfo?.info_kind;
  return { ifindex: l.ifindex, kind, peerElsewhere: kind === 'veth' && typeof l.link_netnsid === 'number' };
}

/**
 * The egress for `mode` on `link`. `auto`: `peer` on a veth whose peer is in another namespace (containers, the
 * namespace benchmark), else `redirect`. `peer` asked on anything else is refused (the kernel would drop every packet
 * `bpf_redirect_peer` cannot deliver): POP_ERR_KERNEL_FORWARD.
 */
export function chooseEgress(mode: KernelEgressMode, link: EgressLink, device: string): KernelEgress {
  switch (mode) {
    case 'neigh':
      return { name: 'neigh', mode: 0 };
    case 'redirect':
      return { name: 'redirect', mode: 1 };
    case 'peer':
      if (!link.peerElsewhere)
        throw new PopRouterError(
          'POP_ERR_KERNEL_FORWARD',
          `--kernel-forward-egress peer: ${device} is not a veth whose peer is in another network namespace (${link.kind ?? 'no link kind'})`,
        );
      return { name: 'peer', mode: 2 };
    case 'auto':
      return link.peerElsewhere ? { name: 'peer', mode: 2 } : { name: 'redirect', mode: 1 };
  }
}

/**
 * The map value: mode and the device whose peer `bpf_redirect_peer` may use (host order, little-endian), then the
 * interface's on-link network `onLink` (`a.b.c.d/len`, network order): the ARP senders the program learns.
 */
export function encodeEgressConfig(e: KernelEgress, link: EgressLink, onLink: string): Buffer {
  const b = Buffer.alloc(EGRESS_CONFIG_BYTES);
  b.writeUInt32LE(e.mode, 0);
  b.writeUInt32LE(e.mode === 2 ? link.ifindex : 0, 4);
  const { net, mask } = parseCidr(onLink);
  net.copy(b, 8);
  mask.copy(b, 12);
  return b;
}
