import { describe, expect, it } from 'vitest';
import { ManualClock } from '@switchyard/core';
import {
  clientKey,
  KERNEL_FORWARD_TEST_PROFILE as P,
  KernelForwardTable,
  type KernelForwardAction,
} from '../src/primary/kernel-forward-table.js';
import { encodeFwdKey, encodeFwdValue, FWD_VALUE_BYTES } from '../src/primary/kernel-forward-map.js';
import { buildVxlanTemplate } from '@switchyard/pop-wire';

const c1 = { address: '198.18.0.2', port: 5000, servicePort: 5060 };
const c2 = { address: '198.18.0.3', port: 5001, servicePort: 5060 };
const c3 = { address: '198.18.0.4', port: 5002, servicePort: 5060 };
const k1 = clientKey(c1.address, c1.port, c1.servicePort);

/** Forwards `n` datagrams of `client` to `owner` for `session`; returns all actions. */
function send(
  t: KernelForwardTable,
  clock: ManualClock,
  client: typeof c1,
  owner: string,
  n: number,
  session = 's1',
) {
  const out: KernelForwardAction[] = [];
  for (let i = 0; i < n; i++) out.push(...t.forwarded(client, owner, session, clock.now()));
  return out;
}

describe('KernelForwardTable', () => {
  it('delegates after delegateAfter datagrams in a row to one owner, once', () => {
    const clock = new ManualClock();
    const t = new KernelForwardTable(P);
    expect(send(t, clock, c1, 'B', P.delegateAfter - 1)).toEqual([]);
    expect(send(t, clock, c1, 'B', 1)).toEqual([{ type: 'install', key: k1, client: c1, owner: 'B' }]);
    expect(send(t, clock, c1, 'B', 5)).toEqual([]);
    expect(t.size).toBe(1);
    expect(t.ownerOf(k1)).toBe('B');
  });

  it('a client alternating between owners (several sessions of different hosts) is never delegated', () => {
    const clock = new ManualClock();
    const t = new KernelForwardTable(P);
    for (let i = 0; i < 20; i++) {
      expect(t.forwarded(c1, 'B', 's1', clock.now())).toEqual([]);
      expect(t.forwarded(c1, 'C', 's2', clock.now())).toEqual([]);
    }
    expect(t.size).toBe(0);
  });

  it('a datagram handled here breaks the run', () => {
    const clock = new ManualClock();
    const t = new KernelForwardTable(P);
    send(t, clock, c1, 'B', P.delegateAfter - 1);
    t.handledHere(k1);
    expect(send(t, clock, c1, 'B', P.delegateAfter - 1)).toEqual([]);
    expect(send(t, clock, c1, 'B', 1)).toHaveLength(1);
  });

  it('removes entries whose owner leaves or dies, and no other', () => {
    const clock = new ManualClock();
    const t = new KernelForwardTable(P);
    send(t, clock, c1, 'B', P.delegateAfter);
    send(t, clock, c2, 'C', P.delegateAfter);
    const removed = t.hostGone('B');
    expect(removed).toEqual([{ type: 'remove', key: k1, client: c1, owner: 'B', reason: 'owner-gone' }]);
    expect(t.size).toBe(1);
    expect(t.counters.removed['owner-gone']).toBe(1);
  });

  it('removes an entry when a session it was delegated for moves to another owner (or to none)', () => {
    const clock = new ManualClock();
    const t = new KernelForwardTable(P);
    send(t, clock, c1, 'B', P.delegateAfter, 'conf-1');
    expect(t.ownerChanged('conf-1', 'B')).toEqual([]);
    expect(t.ownerChanged('other', 'C')).toEqual([]);
    expect(t.ownerChanged('conf-1', 'C')).toEqual([
      { type: 'remove', key: k1, client: c1, owner: 'B', reason: 'session-moved' },
    ]);
    send(t, clock, c1, 'B', P.delegateAfter, 'conf-2');
    expect(t.ownerChanged('conf-2', null)).toHaveLength(1);
  });

  it('removes idle entries on the sweep; a hit keeps one', () => {
    const clock = new ManualClock();
    const t = new KernelForwardTable(P);
    send(t, clock, c1, 'B', P.delegateAfter);
    send(t, clock, c2, 'B', P.delegateAfter);
    clock.advance(P.idleMs - 1);
    expect(t.sweep(clock.now())).toEqual([]);
    t.hit(k1, clock.now());
    clock.advance(1);
    const idle = t.sweep(clock.now());
    expect(idle.map((a) => a.type === 'remove' && a.reason)).toEqual(['idle']);
    expect(idle[0]!.client).toEqual(c2);
    expect(t.has(k1)).toBe(true);
    clock.advance(P.idleMs);
    expect(t.sweep(clock.now())).toHaveLength(1);
    expect(t.size).toBe(0);
  });

  it('caps the entries; a failed write is forgotten; reset removes everything', () => {
    const clock = new ManualClock();
    const t = new KernelForwardTable(P);
    send(t, clock, c1, 'B', P.delegateAfter);
    send(t, clock, c2, 'B', P.delegateAfter);
    expect(send(t, clock, c3, 'B', P.delegateAfter)).toEqual([]);
    expect(t.counters.refusedFull).toBe(1);
    t.failed(k1);
    expect(t.has(k1)).toBe(false);
    expect(send(t, clock, c3, 'B', P.delegateAfter)).toHaveLength(1);
    expect(t.reset().map((a) => a.type)).toEqual(['remove', 'remove']);
    expect(t.size).toBe(0);
  });

  it('counts a bounded number of clients', () => {
    const clock = new ManualClock();
    const t = new KernelForwardTable(P);
    for (let i = 0; i < 100; i++)
      t.forwarded({ address: `10.0.0.${i}`, port: 1, servicePort: 5060 }, 'B', 's', clock.now());
    // the first ones were forgotten: their runs start again
    expect(
      send(t, clock, { address: '10.0.0.0', port: 1, servicePort: 5060 }, 'B', P.delegateAfter - 1),
    ).toEqual([]);
  });
});

describe('kernel forward map encoding (layout of kernel-forward.bpf.c)', () => {
  it('key: address, port, service port in network order; IPv6 refused', () => {
    expect(encodeFwdKey(c1)!.toString('hex')).toBe('c61200021388' + '13c4');
    expect(encodeFwdKey({ address: '::1', port: 1, servicePort: 2 })).toBeUndefined();
  });

  it("value: outer addresses, the owner's VXLAN port, the template's inner destination, ifindex, VXLAN + inner Ethernet", () => {
    const template = buildVxlanTemplate({
      vni: 42,
      dstMac: '02:00:00:00:00:02',
      srcMac: '02:00:00:00:00:01',
      innerAddress: '198.19.0.101',
      innerPort: 5060,
    });
    const v = encodeFwdValue(
      { id: 'B', address: '198.18.1.12', port: 4789, template, alive: true },
      { source: '198.18.1.11', ifindex: 7 },
    )!;
    expect(v).toHaveLength(FWD_VALUE_BYTES);
    expect(v.subarray(0, 8).toString('hex')).toBe('c612010bc612010c');
    expect(v.readUInt16BE(8)).toBe(4789);
    expect(v.readUInt16BE(10)).toBe(5060);
    expect(v.subarray(12, 16).toString('hex')).toBe('c6130065');
    expect(v.readUInt32LE(16)).toBe(7);
    expect(v.subarray(20, 42).equals(template.subarray(0, 22))).toBe(true);
    expect(v.readBigUInt64LE(48)).toBe(0n);
  });
});
