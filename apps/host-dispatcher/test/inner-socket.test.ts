/**
 * C10, with a real Dispatcher (forked workers, real sockets): the second UDP socket on `--inner-address` receives
 * what the kernel decapsulated for this host. Such a datagram is handled here even when the table names another
 * live owner (one forward at most; counted as a disagreement), and its replies leave from the service (VIP) socket.
 * The same holds for datagrams injected by the `udp` tunnel. A direct datagram of a session owned elsewhere is
 * encapsulated to the owner.
 */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@switchyard/testing';
import { buildVxlanTemplate, decodeVxlan, vxlanMacFor } from '@switchyard/pop-wire';
import { parseSipMessage, type Dispatcher } from '../src/index.js';
import { oneWorkerDispatcher } from './one-worker-dispatcher.js';
import { invite } from './sip-fixtures.js';

/** A loopback address of this test's own (third octet 61), standing for the POP-wide inner address. */
const INNER = '127.0.61.101';

async function udpSocket(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}

describe('the inner-address socket (C10)', () => {
  let d: Dispatcher;
  let owner: dgram.Socket;
  const atOwner: Buffer[] = [];
  beforeAll(async () => {
    d = oneWorkerDispatcher({ innerAddress: INNER });
    await d.start();
    // the other host "h2": a plain socket standing for its VXLAN port, collecting what is forwarded to it
    owner = await udpSocket();
    owner.on('message', (m) => atOwner.push(Buffer.from(m)));
    const template = buildVxlanTemplate({
      vni: 42,
      dstMac: vxlanMacFor('h2'),
      srcMac: vxlanMacFor('h1'),
      innerAddress: INNER,
      innerPort: d.addresses[0]!.port,
    });
    d.pop.plane.apply({
      kind: 'snapshot',
      self: 'h1',
      mode: 'vxlan',
      draining: false,
      hosts: [
        {
          id: 'h2',
          address: '127.0.0.1',
          port: owner.address().port,
          template: template.toString('base64'),
          alive: true,
        },
      ],
    });
    d.pop.plane.apply({
      kind: 'delta',
      owners: [
        ['conf-far', 'h2'],
        ['conf-far2', 'h2'],
      ],
    });
  });
  afterAll(async () => {
    owner?.close();
    await d?.stop();
  });

  it('binds the inner address on the service port', () => {
    expect(d.innerAddress).toEqual({ host: INNER, port: d.addresses[0]!.port });
  });

  it('forwards a direct datagram of a session owned elsewhere, but handles decapsulated and injected ones here', async () => {
    const peer = await udpSocket();
    const answers: { callId: string; status: number; fromAddress: string; fromPort: number }[] = [];
    peer.on('message', (m, rinfo) => {
      const r = parseSipMessage(m);
      if (r.ok && r.message.kind === 'response')
        answers.push({
          callId: r.message.headers.find((h) => h.name === 'call-id')!.value,
          status: r.message.status,
          fromAddress: rinfo.address,
          fromPort: rinfo.port,
        });
    });
    const vip = d.addresses[0]!;
    const counters = d.pop.plane.counters;

    // 1. direct to the VIP socket: the table names h2 → encapsulated to h2, not answered here
    peer.send(invite({ callId: 'direct-1', conf: 'conf-far', branch: 'z9hG4bK-d1' }), vip.port, vip.host);
    await waitFor('the direct INVITE forwarded to the owner', () => atOwner.length === 1);
    const forwarded = decodeVxlan(atOwner[0]!);
    expect(forwarded).toMatchObject({ srcAddress: '127.0.0.1', srcPort: peer.address().port });
    expect(counters.forwarded).toBe(1);

    // 2. to the inner socket (as the kernel delivers a decapsulated datagram): handled here, a disagreement
    peer.send(invite({ callId: 'inner-1', conf: 'conf-far', branch: 'z9hG4bK-i1' }), vip.port, INNER);
    await waitFor('200 to the INVITE that arrived on the inner socket', () =>
      answers.some((a) => a.callId === 'inner-1' && a.status === 200),
    );
    // replies leave from the service (VIP) socket, never from the inner one
    for (const a of answers.filter((x) => x.callId === 'inner-1')) {
      expect(a.fromAddress).toBe(vip.host);
      expect(a.fromPort).toBe(vip.port);
    }
    expect(counters.disagreements).toBe(1);
    expect(await d.metrics.decapsulated.get()).toMatchObject({ values: [{ value: 1 }] });

    // 3. injected by the udp tunnel (the pop-router's path), another conference h2 owns (conf-far is now held by
    // a worker here, so the table is not consulted for it): handled here, a disagreement as well
    expect(
      d.injectEncapsulated(invite({ callId: 'inj-1', conf: 'conf-far2', branch: 'z9hG4bK-j1' }), {
        address: '127.0.0.1',
        port: peer.address().port,
      }),
    ).toBe(true);
    await waitFor('200 to the injected INVITE', () =>
      answers.some((a) => a.callId === 'inj-1' && a.status === 200),
    );
    expect(counters.disagreements).toBe(2);

    // never bounced: nothing more reached the owner, and nothing of the direct INVITE was answered here
    expect(atOwner).toHaveLength(1);
    expect(counters.forwarded).toBe(1);
    expect(answers.some((a) => a.callId === 'direct-1')).toBe(false);
    peer.close();
  });

  it('an injected datagram of a session nobody owns is claimed here (the router gossips the claim)', async () => {
    const claimed = d.pop.plane.counters.claimed;
    const peer = await udpSocket();
    const ok: string[] = [];
    peer.on('message', (m) => {
      const r = parseSipMessage(m);
      if (r.ok && r.message.kind === 'response' && r.message.status === 200) ok.push('200');
    });
    peer.send(
      invite({ callId: 'inner-new', conf: 'conf-new', branch: 'z9hG4bK-n1' }),
      d.addresses[0]!.port,
      INNER,
    );
    await waitFor('200 to the new session', () => ok.length > 0);
    expect(d.pop.plane.ownerOf('conf-new')).toBe('h1');
    expect(d.pop.plane.counters.claimed).toBe(claimed + 1);
    peer.close();
  });
});
