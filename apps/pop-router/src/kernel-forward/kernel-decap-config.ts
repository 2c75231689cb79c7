/**
 * The owner side of the kernel path (`--kernel-decap`, docs/pop-router.md "Kernel decapsulation"): the one entry of
 * the BPF program's `sy_decap` map, which turns on the tc decapsulation of VXLAN from the POP network. Pure: the
 * bytes here, the `bpftool map update` in kernel-forward-attach.ts. Layout mirrors `struct decap_cfg` in
 * bpf/kernel-forward.bpf.c (network byte order but `enabled`, which the program reads in host order).
 */
import { PopRouterError } from '../errors.js';

export interface KernelDecapConfig {
  /** this host's address (the outer destination the program accepts) */
  local: string;
  /** the POP network the outer source must be in, as `a.b.c.d/len` */
  sources: string;
  vxlanPort: number;
  /** the tunnel port (the dispatcher's SIP port) and address: the template's inner destination */
  innerPort: number;
  innerAddress: string;
  vni: number;
  /** vx0's MAC (`vxlanMacFor(id)`): the inner Ethernet destination every template carries */
  mac: string;
}

/** sizeof(struct decap_cfg) */
export const DECAP_CONFIG_BYTES = 36;

function ipv4(s: string, field: string): Buffer {
  const parts = s.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255))
    throw new PopRouterError('POP_ERR_CONFIG', `${field}: not an IPv4 address: ${s}`, { details: { field } });
  return Buffer.from(parts);
}

/** `a.b.c.d/len` → network and mask (network byte order). */
export function parseCidr(cidr: string): { net: Buffer; mask: Buffer } {
  const [addr, lenText] = cidr.split('/');
  const len = Number(lenText);
  if (!addr || !Number.isInteger(len) || len < 0 || len > 32)
    throw new PopRouterError('POP_ERR_CONFIG', `kernelDecapSources: not a CIDR prefix: ${cidr}`, {
      details: { field: 'kernelDecapSources' },
    });
  const mask = Buffer.alloc(4);
  mask.writeUInt32BE(len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);
  const net = ipv4(addr, 'kernelDecapSources');
  for (let i = 0; i < 4; i++) net[i]! &= mask[i]!;
  return { net, mask };
}

/** The map value: 36 bytes, as `bpftool map update … value hex …` takes it. */
export function encodeDecapConfig(c: KernelDecapConfig): Buffer {
  const b = Buffer.alloc(DECAP_CONFIG_BYTES);
  b.writeUInt32LE(1, 0); // enabled (host order; this is little-endian x86/arm64)
  ipv4(c.local, 'address').copy(b, 4);
  const { net, mask } = parseCidr(c.sources);
  net.copy(b, 8);
  mask.copy(b, 12);
  b.writeUInt16BE(c.vxlanPort, 16);
  b.writeUInt16BE(c.innerPort, 18);
  ipv4(c.innerAddress, 'innerAddress').copy(b, 20);
  b.writeUInt32BE((c.vni << 8) >>> 0, 24);
  const mac = c.mac.split(':').map((x) => parseInt(x, 16));
  if (mac.length !== 6 || mac.some((x) => !(x >= 0 && x <= 255)))
    throw new PopRouterError('POP_ERR_CONFIG', `vx0 MAC: ${c.mac}`, { details: { field: 'id' } });
  Buffer.from(mac).copy(b, 28);
  return b;
}

/** `bpftool` argument form of bytes: `hex 0a 0b …` split into words. */
export function bpftoolHex(b: Buffer): string[] {
  return ['hex', ...[...b].map((x) => x.toString(16).padStart(2, '0'))];
}
