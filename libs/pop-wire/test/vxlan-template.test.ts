import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildVxlanTemplate,
  decodeVxlan,
  encapsulateVxlan,
  internetChecksum,
  parseIpv4,
  updateChecksum,
  vxlanMacFor,
  VXLAN_TEMPLATE_BYTES,
  PopWireError,
} from '../src/index.js';

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));

describe('internet checksum', () => {
  it('RFC 1071 example: the checksum of a header with its checksum is zero', () => {
    // a real IPv4 header (Wikipedia's worked example), checksum b861
    const h = Buffer.from('450000730000400040110000c0a80001c0a800c7', 'hex');
    expect(internetChecksum(h, 0, 20)).toBe(0xb861);
    h.writeUInt16BE(0xb861, 10);
    expect(internetChecksum(h, 0, 20)).toBe(0);
  });

  it('RFC 1624 incremental update equals a full recomputation for any word change', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 20, maxLength: 20 }),
        fc.nat(9),
        fc.nat(0xffff),
        (bytes, w, v) => {
          const b = Buffer.from(bytes);
          b.writeUInt16BE(0, 10);
          const hc = internetChecksum(b, 0, 20);
          b.writeUInt16BE(hc, 10);
          if (w === 5) return; // the checksum word itself
          const old = b.readUInt16BE(w * 2);
          b.writeUInt16BE(v, w * 2);
          const inc = updateChecksum(hc, old, v);
          b.writeUInt16BE(0, 10);
          const full = internetChecksum(b, 0, 20);
          // one's complement has two zeros; eqn. 3 and a recomputation agree except on the -0/+0 representation
          expect(inc === full || (inc ^ full) === 0xffff).toBe(true);
          b.writeUInt16BE(inc, 10);
          expect([0, 0xffff]).toContain(internetChecksum(b, 0, 20));
        },
      ),
    );
  });
});

describe('ipv4 parsing', () => {
  it('parses dotted quads and rejects everything else', () => {
    expect(parseIpv4('198.18.0.7')).toBe(0xc6120007);
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '1..2.3', '256.1.1.1', '::1', '1.2.3.x', '1.2.3.4 '])
      expect(parseIpv4(bad)).toBe(-1);
    fc.assert(fc.property(ipv4, (a) => parseIpv4(a) >= 0));
  });
});

describe('VXLAN template', () => {
  const t = buildVxlanTemplate({
    vni: 42,
    dstMac: vxlanMacFor('host-2'),
    srcMac: vxlanMacFor('host-1'),
    innerAddress: '198.19.0.101',
    innerPort: 5060,
  });

  it('is 50 bytes with the VXLAN flags, VNI, ethertype and constant IPv4 fields', () => {
    expect(t.length).toBe(VXLAN_TEMPLATE_BYTES);
    expect(t.subarray(0, 8).toString('hex')).toBe('0800000000002a00');
    expect(t.readUInt16BE(20)).toBe(0x0800);
    expect(t[22]).toBe(0x45);
    expect(t[31]).toBe(17);
  });

  it('patched per packet: a valid IPv4 header (checksum verifies) with the client address, port and lengths', () => {
    const out = Buffer.alloc(2000);
    fc.assert(
      fc.property(
        ipv4,
        fc.integer({ min: 1, max: 65535 }),
        fc.uint8Array({ maxLength: 1400 }),
        (src, port, p) => {
          const n = encapsulateVxlan(out, t, src, port, p);
          expect(n).toBe(VXLAN_TEMPLATE_BYTES + p.length);
          const d = decodeVxlan(out.subarray(0, n));
          expect(d).toBeDefined();
          expect(d!.srcAddress).toBe(src);
          expect(d!.srcPort).toBe(port);
          expect(d!.dstAddress).toBe('198.19.0.101');
          expect(d!.dstPort).toBe(5060);
          expect(d!.vni).toBe(42);
          expect(Buffer.compare(d!.payload, Buffer.from(p))).toBe(0);
          expect(internetChecksum(out, 22, 42)).toBe(0);
        },
      ),
    );
  });

  it('refuses an IPv6 peer and a packet larger than the output buffer', () => {
    expect(encapsulateVxlan(Buffer.alloc(2000), t, '::1', 5, Buffer.alloc(10))).toBe(-1);
    expect(encapsulateVxlan(Buffer.alloc(60), t, '1.2.3.4', 5, Buffer.alloc(11))).toBe(-1);
  });

  it('validates template fields with typed errors', () => {
    const base = {
      vni: 1,
      dstMac: '02:00:00:00:00:01',
      srcMac: '02:00:00:00:00:02',
      innerAddress: '1.2.3.4',
      innerPort: 1,
    };
    for (const bad of [{ vni: 1 << 24 }, { innerPort: 0 }, { innerAddress: 'x' }, { dstMac: '02:00' }]) {
      expect(() => buildVxlanTemplate({ ...base, ...bad })).toThrow(PopWireError);
    }
  });

  it('derives a stable locally administered MAC per host id', () => {
    expect(vxlanMacFor('host-1')).toBe(vxlanMacFor('host-1'));
    expect(vxlanMacFor('host-1')).not.toBe(vxlanMacFor('host-2'));
    expect(vxlanMacFor('host-1')).toMatch(/^02(:[0-9a-f]{2}){5}$/);
  });
});
