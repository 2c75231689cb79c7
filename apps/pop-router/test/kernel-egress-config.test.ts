import { ManualClock } from '@switchyard/core';
import { describe, expect, it } from 'vitest';
import { CachedRead } from '../src/kernel-forward/cached-read.js';
import {
  chooseEgress,
  EGRESS_CONFIG_BYTES,
  encodeEgressConfig,
  parseEgressLink,
} from '../src/kernel-forward/kernel-egress-config.js';

describe("kernel forward egress (the sy_egress map value, from the device's link info)", () => {
  // `ip -j -d link show dev pop0` in a namespace POP host (trimmed): a veth whose peer is in the router namespace
  const vethElsewhere = JSON.stringify([
    { ifindex: 7, ifname: 'pop0', link_netnsid: 0, linkinfo: { info_kind: 'veth' } },
  ]);
  const vethHere = JSON.stringify([{ ifindex: 3, ifname: 'a0', linkinfo: { info_kind: 'veth' } }]);
  const nic = JSON.stringify([{ ifindex: 2, ifname: 'eth0' }]);

  it('reads the link kind and whether a veth peer lives in another namespace', () => {
    expect(parseEgressLink(vethElsewhere, 'pop0')).toEqual({ ifindex: 7, kind: 'veth', peerElsewhere: true });
    expect(parseEgressLink(vethHere, 'a0')).toEqual({ ifindex: 3, kind: 'veth', peerElsewhere: false });
    expect(parseEgressLink(nic, 'eth0')).toEqual({ ifindex: 2, kind: undefined, peerElsewhere: false });
    expect(() => parseEgressLink('[]', 'nope')).toThrow(/nope: no such device/);
  });

  it('auto: peer on a veth whose peer is elsewhere, redirect otherwise; peer refused where it cannot deliver', () => {
    const elsewhere = parseEgressLink(vethElsewhere, 'pop0');
    const here = parseEgressLink(vethHere, 'a0');
    const eth = parseEgressLink(nic, 'eth0');
    expect(chooseEgress('auto', elsewhere, 'pop0')).toEqual({ name: 'peer', mode: 2 });
    expect(chooseEgress('auto', here, 'a0')).toEqual({ name: 'redirect', mode: 1 });
    expect(chooseEgress('auto', eth, 'eth0')).toEqual({ name: 'redirect', mode: 1 });
    expect(chooseEgress('neigh', elsewhere, 'pop0')).toEqual({ name: 'neigh', mode: 0 });
    expect(chooseEgress('redirect', elsewhere, 'pop0')).toEqual({ name: 'redirect', mode: 1 });
    expect(chooseEgress('peer', elsewhere, 'pop0')).toEqual({ name: 'peer', mode: 2 });
    expect(() => chooseEgress('peer', here, 'a0')).toThrow(/a0 is not a veth whose peer is in another/);
    expect(() => chooseEgress('peer', eth, 'eth0')).toThrow(/POP_ERR_KERNEL_FORWARD|not a veth/);
  });

  it('lays out struct egress_cfg of bpf/kernel-forward.bpf.c (mode, peer ifindex; host order)', () => {
    const link = parseEgressLink(vethElsewhere, 'pop0');
    const peer = encodeEgressConfig({ name: 'peer', mode: 2 }, link, '198.18.1.42/24');
    expect(peer.length).toBe(EGRESS_CONFIG_BYTES);
    // mode, peer ifindex (host order), then the on-link network and mask (network order)
    expect([...peer]).toEqual([2, 0, 0, 0, 7, 0, 0, 0, 198, 18, 1, 0, 255, 255, 255, 0]);
    // the peer ifindex only with mode 2: the program never calls bpf_redirect_peer otherwise
    expect([
      ...encodeEgressConfig({ name: 'redirect', mode: 1 }, link, '10.1.2.3/16').subarray(0, 16),
    ]).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 10, 1, 0, 0, 255, 255, 0, 0]);
    expect([...encodeEgressConfig({ name: 'neigh', mode: 0 }, link, '10.0.0.1/32').subarray(0, 8)]).toEqual([
      0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    expect(() => encodeEgressConfig({ name: 'neigh', mode: 0 }, link, 'x/99')).toThrow(/not a CIDR/);
  });
});

describe('CachedRead (the /metrics scrape reads the program counters at most once per interval)', () => {
  it('shares one read within the interval and between concurrent callers; reads again after it', async () => {
    const clock = new ManualClock(1_000);
    let value = 0;
    let release: (() => void) | undefined;
    const r = new CachedRead(
      () =>
        new Promise<number>((resolve) => {
          const v = ++value;
          release = () => resolve(v);
        }),
      () => clock.now(),
      1000,
    );
    const a = r.get();
    const b = r.get();
    expect(r.reads).toBe(1);
    release!();
    expect(await a).toBe(1);
    expect(await b).toBe(1);
    clock.advance(999);
    expect(await r.get()).toBe(1);
    expect(r.reads).toBe(1);
    clock.advance(1);
    const c = r.get();
    expect(r.reads).toBe(2);
    release!();
    expect(await c).toBe(2);
  });

  it('does not keep a failed read: the next call reads again', async () => {
    const clock = new ManualClock(0);
    let fail = true;
    const r = new CachedRead(
      () => (fail ? Promise.reject(new Error('bpftool gone')) : Promise.resolve(5)),
      () => clock.now(),
      1000,
    );
    await expect(r.get()).rejects.toThrow('bpftool gone');
    fail = false;
    expect(await r.get()).toBe(5);
    expect(r.reads).toBe(2);
  });
});
