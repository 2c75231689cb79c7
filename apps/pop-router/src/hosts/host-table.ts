/**
 * The host table: for each member of the POP its address, tunnel endpoint, VXLAN MAC, state and the encapsulation
 * header template precomputed for packets sent to it. Pure: fed gossip member views, returns what changed; the
 * router pushes the changes to its dispatcher, whose data plane only copies and patches the template per packet.
 *
 * Everything is derived from the member's gossip address and POP-wide settings (tunnel port, VXLAN port, VNI, inner
 * address, SIP port), and the `vx0` MAC from the host id, so nothing beyond membership needs gossiping.
 */
import type { MemberStatus, MemberView } from '@switchyard/gossip';
import {
  buildTunnelTemplate,
  buildVxlanTemplate,
  vxlanMacFor,
  type Encapsulation,
  type LinkHost,
} from '@switchyard/pop-wire';

export interface HostTableInit {
  self: string;
  mode: Encapsulation;
  /** `udp`: the routers' tunnel port. */
  tunnelPort: number;
  /** `vxlan`: vx0's port, VNI, inner destination and SIP port. */
  vxlanPort: number;
  vni: number;
  innerAddress: string;
  sipPort: number;
  /** `udp`: key id the templates name (the keyring's primary). */
  keyId: number;
}

export interface HostEntry {
  readonly id: string;
  /** Gossip address `host:port`. */
  readonly gossip: string;
  /** Host part of the gossip address: where its tunnel endpoint is. */
  readonly address: string;
  readonly status: MemberStatus;
  readonly incarnation: number;
  /** `host:port` encapsulated packets go to. */
  readonly tunnel: string;
  readonly mac: string;
  readonly link: LinkHost;
}

/** Host part of `host:port` (IPv4 or a name; `[v6]:port` unwrapped). */
export function hostOf(addr: string): string {
  const i = addr.lastIndexOf(':');
  const h = i < 0 ? addr : addr.slice(0, i);
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

export class HostTable {
  private readonly hosts = new Map<string, HostEntry>();

  constructor(readonly init: HostTableInit) {}

  /** Records a member's view; returns its link entry when the data plane must learn of a change. */
  upsert(m: MemberView): LinkHost | undefined {
    const prev = this.hosts.get(m.id);
    if (prev && prev.gossip === m.addr && prev.status === m.status && prev.incarnation === m.inc)
      return undefined;
    const address = hostOf(m.addr);
    const alive = m.status === 'alive' || m.status === 'suspect';
    const reuse = prev && prev.address === address;
    const link: LinkHost = reuse ? { ...prev.link, alive } : { ...this.endpoint(m.id, address), alive };
    const entry: HostEntry = {
      id: m.id,
      gossip: m.addr,
      address,
      status: m.status,
      incarnation: m.inc,
      tunnel: `${link.address}:${link.port}`,
      mac: vxlanMacFor(m.id),
      link,
    };
    this.hosts.set(m.id, entry);
    return prev && prev.link.alive === link.alive && reuse ? undefined : link;
  }

  /** Forgets a member (dead members retained by gossip stay, marked not alive). */
  remove(id: string): boolean {
    return this.hosts.delete(id);
  }

  get(id: string): HostEntry | undefined {
    return this.hosts.get(id);
  }

  list(): HostEntry[] {
    return [...this.hosts.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  links(): LinkHost[] {
    return this.list().map((h) => h.link);
  }

  private endpoint(id: string, address: string): Omit<LinkHost, 'alive'> {
    const i = this.init;
    if (i.mode === 'udp') {
      const t = buildTunnelTemplate({ from: i.self, to: id, keyId: i.keyId });
      return { id, address, port: i.tunnelPort, template: t.toString('base64') };
    }
    const t = buildVxlanTemplate({
      vni: i.vni,
      dstMac: vxlanMacFor(id),
      srcMac: vxlanMacFor(i.self),
      innerAddress: i.innerAddress,
      innerPort: i.sipPort,
    });
    return { id, address, port: i.vxlanPort, template: t.toString('base64') };
  }
}
