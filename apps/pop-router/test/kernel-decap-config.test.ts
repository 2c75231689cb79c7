import { describe, expect, it } from 'vitest';
import {
  bpftoolHex,
  DECAP_CONFIG_BYTES,
  encodeDecapConfig,
  parseCidr,
} from '../src/kernel-forward/kernel-decap-config.js';

describe('kernel decapsulation config (the sy_decap map value)', () => {
  const config = {
    local: '198.18.1.51',
    sources: '198.18.1.0/24',
    vxlanPort: 4789,
    innerPort: 5060,
    innerAddress: '198.19.0.131',
    vni: 42,
    mac: '02:aa:bb:cc:dd:ee',
  };

  it('lays out struct decap_cfg of bpf/kernel-forward.bpf.c byte for byte', () => {
    const b = encodeDecapConfig(config);
    expect(b.length).toBe(DECAP_CONFIG_BYTES);
    expect(b.readUInt32LE(0)).toBe(1); // enabled
    expect([...b.subarray(4, 8)]).toEqual([198, 18, 1, 51]);
    expect([...b.subarray(8, 12)]).toEqual([198, 18, 1, 0]);
    expect([...b.subarray(12, 16)]).toEqual([255, 255, 255, 0]);
    expect(b.readUInt16BE(16)).toBe(4789);
    expect(b.readUInt16BE(18)).toBe(5060);
    expect([...b.subarray(20, 24)]).toEqual([198, 19, 0, 131]);
    // the VXLAN header's second word as the wire carries it: VNI in the top 24 bits
    expect([...b.subarray(24, 28)]).toEqual([0, 0, 42, 0]);
    expect([...b.subarray(28, 34)]).toEqual([0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]);
    expect(bpftoolHex(b).slice(0, 5)).toEqual(['hex', '01', '00', '00', '00']);
  });

  it('masks the network and accepts /0 and /32', () => {
    expect([...parseCidr('10.1.2.3/16').net]).toEqual([10, 1, 0, 0]);
    expect([...parseCidr('10.1.2.3/32').mask]).toEqual([255, 255, 255, 255]);
    expect([...parseCidr('10.1.2.3/0').mask]).toEqual([0, 0, 0, 0]);
  });

  it('rejects what is not a prefix or an address, naming the field', () => {
    expect(() => parseCidr('10.1.2.3/33')).toThrow(/kernelDecapSources/);
    expect(() => parseCidr('10.1.2/24')).toThrow(/kernelDecapSources/);
    expect(() => encodeDecapConfig({ ...config, innerAddress: '300.1.1.1' })).toThrow(/innerAddress/);
    expect(() => encodeDecapConfig({ ...config, mac: '02:aa' })).toThrow(/MAC/);
  });
});
