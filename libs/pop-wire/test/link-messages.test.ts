import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeDispatcherMessage,
  decodeRouterMessage,
  encodeLinkFrame,
  heldChunks,
  LINK_FRAME_SESSION,
  LINK_FRAME_TABLE,
  LINK_MAX_BODY_BYTES,
  ownerDeltas,
  type DispatcherToRouter,
  type RouterToDispatcher,
} from '../src/index.js';

describe('router ↔ dispatcher link messages', () => {
  it('round-trip', () => {
    const snap: RouterToDispatcher = {
      kind: 'snapshot',
      self: 'h1',
      mode: 'udp',
      draining: false,
      tunnelKeys: { primary: 1, keys: [{ id: 1, key: Buffer.alloc(32, 1).toString('base64') }] },
      ownerKeys: { primary: 1, keys: [{ id: 1, key: Buffer.alloc(32, 2).toString('base64') }] },
      hosts: [{ id: 'h2', address: '127.0.3.2', port: 7000, template: 'AAA=', alive: true }],
    };
    expect(decodeRouterMessage(encodeLinkFrame(LINK_FRAME_TABLE, snap))).toEqual(snap);
    const kernel: RouterToDispatcher = {
      kind: 'snapshot',
      self: 'h1',
      mode: 'vxlan',
      draining: false,
      hosts: [],
      kernelForward: { fwdMap: 28, hitsMap: 29, device: 'pop0' },
    };
    expect(decodeRouterMessage(encodeLinkFrame(LINK_FRAME_TABLE, kernel))).toEqual(kernel);
    const delta: RouterToDispatcher = {
      kind: 'delta',
      owners: [
        ['conf-1', 'h2'],
        ['conf-2', null],
      ],
      hostsRemoved: ['h3'],
    };
    expect(decodeRouterMessage(encodeLinkFrame(LINK_FRAME_TABLE, delta))).toEqual(delta);
    for (const m of [
      { event: 'claim', session: 'conf-1' },
      { event: 'release', session: 'conf-1' },
      { event: 'held', sessions: ['a', 'b'] },
      { event: 'sessionOpened', callId: 'c@x', conferenceId: 'conf-1', worker: 'w1' },
    ] satisfies DispatcherToRouter[])
      expect(decodeDispatcherMessage(encodeLinkFrame(LINK_FRAME_SESSION, m))).toEqual(m);
  });

  it('decoding is total: garbage and wrong shapes give undefined', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        decodeRouterMessage(Buffer.from(b));
        decodeDispatcherMessage(Buffer.from(b));
      }),
    );
    const bad = [
      { kind: 'snapshot', self: '', mode: 'udp', draining: false, hosts: [] },
      { kind: 'snapshot', self: 'h1', mode: 'udp', draining: false, hosts: [], ownerKeys: null },
      { kind: 'snapshot', self: 'h1', mode: 'udp', draining: false, hosts: [], ownerKeys: { keys: 3 } },
      { kind: 'snapshot', self: 'h1', mode: 'vxlan', draining: false, hosts: [], kernelForward: null },
      {
        kind: 'snapshot',
        self: 'h1',
        mode: 'vxlan',
        draining: false,
        hosts: [],
        kernelForward: { fwdMap: 0, hitsMap: 2, device: 'eth0' },
      },
      {
        kind: 'snapshot',
        self: 'h1',
        mode: 'vxlan',
        draining: false,
        hosts: [],
        kernelForward: { fwdMap: 1, hitsMap: 2, device: 'x'.repeat(16) },
      },
      { kind: 'delta', owners: [['x']] },
      { kind: 'delta', owners: [['x'.repeat(200), 'h']] },
      { kind: 'delta', hosts: [{ id: 'h', address: 'a', port: 0, template: '', alive: true }] },
      { kind: 'other' },
    ];
    for (const m of bad)
      expect(
        decodeRouterMessage(Buffer.concat([Buffer.from([LINK_FRAME_TABLE]), Buffer.from(JSON.stringify(m))])),
      ).toBeUndefined();
    expect(decodeDispatcherMessage(Buffer.from([LINK_FRAME_SESSION, 0x7b]))).toBeUndefined();
    expect(
      decodeDispatcherMessage(encodeLinkFrame(LINK_FRAME_SESSION, { event: 'claim', session: '' })),
    ).toBeUndefined();
  });

  it('chunks large tables under the body bound', () => {
    const owners = Array.from({ length: 5000 }, (_, i): [string, string] => [
      `conference-number-${i}`,
      'host-1',
    ]);
    const deltas = ownerDeltas(owners);
    expect(deltas.length).toBeGreaterThan(1);
    let n = 0;
    for (const d of deltas) {
      expect(encodeLinkFrame(LINK_FRAME_TABLE, d).length).toBeLessThan(LINK_MAX_BODY_BYTES);
      n += d.kind === 'delta' ? d.owners!.length : 0;
    }
    expect(n).toBe(5000);
    const held = heldChunks(owners.map((o) => o[0]));
    expect(held.flatMap((h) => (h.event === 'held' ? h.sessions : [])).length).toBe(5000);
    expect(heldChunks([])).toEqual([{ event: 'held', sessions: [] }]);
  });
});
