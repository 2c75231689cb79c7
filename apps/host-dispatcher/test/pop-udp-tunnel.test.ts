/**
 * The `udp` encapsulation from a real Dispatcher (forked worker, real sockets), the service address standing for a
 * VIP every POP host has on lo:
 * - C15: tunnel datagrams leave from a socket not bound to the VIP (from the VIP socket their source would be the
 *   VIP, which the owner has too and its kernel drops as a martian); the owner's pop-router opens them from the
 *   header alone (the client's address and the service index are inside, authenticated), whatever the source.
 * - C14: a response that lands here but whose top Via names another host (the owner's worker sent the request) is
 *   encapsulated to that host; a forged Via token is refused, counted, and the response is not forwarded.
 */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@switchyard/testing';
import {
  buildTunnelTemplate,
  deriveOwnerKeys,
  deriveTunnelKeys,
  ownerToken,
  tunnelKeysToWire,
  TunnelOpener,
} from '@switchyard/pop-wire';
import type { Dispatcher } from '../src/index.js';
import { oneWorkerDispatcher } from './one-worker-dispatcher.js';
import { invite } from './sip-fixtures.js';

/** This test's loopback addresses (third octet 62): the VIP and the other host's tunnel address. */
const VIP = '127.0.62.1';
const H2 = '127.0.62.2';
const ring = { primary: 1, keys: [{ id: 1, secret: 'pop-udp-tunnel-test-secret' }] };
const tunnelKeys = deriveTunnelKeys(ring);
const ownerKeys = deriveOwnerKeys(ring);

describe('udp encapsulation from a VIP (C15) and responses by their Via token (C14)', () => {
  let d: Dispatcher;
  let h2: dgram.Socket;
  const atH2: { bytes: Buffer; address: string; port: number }[] = [];
  const opener = new TunnelOpener(
    { now: () => Date.now() },
    { self: 'h2', keys: tunnelKeys, maxAgeMs: 60_000 },
  );

  beforeAll(async () => {
    d = oneWorkerDispatcher({ listen: [`${VIP}:0`] });
    await d.start();
    // host h2's pop-router tunnel port: a plain socket collecting what is encapsulated to it
    h2 = dgram.createSocket('udp4');
    await new Promise<void>((r) => h2.bind(0, H2, () => r()));
    h2.on('message', (m, rinfo) =>
      atH2.push({ bytes: Buffer.from(m), address: rinfo.address, port: rinfo.port }),
    );
    d.pop.plane.apply({
      kind: 'snapshot',
      self: 'h1',
      mode: 'udp',
      draining: false,
      tunnelKeys: tunnelKeysToWire(tunnelKeys),
      ownerKeys: tunnelKeysToWire(ownerKeys),
      hosts: [
        {
          id: 'h2',
          address: H2,
          port: h2.address().port,
          template: buildTunnelTemplate({ from: 'h1', to: 'h2', keyId: 1 }).toString('base64'),
          alive: true,
        },
      ],
    });
    d.pop.plane.apply({ kind: 'delta', owners: [['conf-far', 'h2']] });
  });
  afterAll(async () => {
    h2?.close();
    await d?.stop();
  });

  it('a datagram of a session h2 owns leaves from a socket other than the VIP; h2 opens it from the header alone', async () => {
    const peer = dgram.createSocket('udp4');
    await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()));
    const vip = d.addresses[0]!;
    peer.send(invite({ callId: 'far-1', conf: 'conf-far', branch: 'z9hG4bK-f1' }), vip.port, vip.host);
    const got = await waitFor('the INVITE encapsulated to h2', () => atH2[0]);
    // not the VIP socket: neither the VIP's address and port, nor the service port
    expect(`${got.address}:${got.port}`).not.toBe(`${vip.host}:${vip.port}`);
    expect(got.port).not.toBe(vip.port);
    const opened = opener.open(got.bytes);
    expect(opened).toMatchObject({
      ok: true,
      from: 'h1',
      local: 0,
      address: '127.0.0.1',
      port: peer.address().port,
    });
    expect(opened.ok && opened.payload.toString('latin1')).toContain('Call-ID: far-1');
    peer.close();
  });

  it('a response whose top Via names h2 is encapsulated to h2; a forged token is refused, counted, not forwarded', async () => {
    const peer = dgram.createSocket('udp4');
    await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()));
    const vip = d.addresses[0]!;
    const response = (token: string, callId: string) =>
      Buffer.from(
        `SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP ${VIP}:${vip.port};branch=z9hG4bK-mv-1;rport;sy-owner=${token}\r\n` +
          `From: <sip:conf-x@${VIP}>;tag=w1\r\nTo: <sip:p@127.0.0.1>;tag=p1\r\nCall-ID: ${callId}\r\n` +
          `CSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n`,
      );
    const c = d.pop.plane.counters;
    const before = atH2.length;
    peer.send(response(ownerToken(ownerKeys, 'h2'), 'resp-1'), vip.port, vip.host);
    const got = await waitFor('the response encapsulated to h2', () => atH2[before]);
    const opened = opener.open(got.bytes);
    expect(opened.ok && opened.payload.toString('latin1')).toContain('Call-ID: resp-1');
    expect(c.responseRouted).toBe(1);
    // forged: another keyring's token for h2
    const forged = deriveOwnerKeys({ primary: 1, keys: [{ id: 1, secret: 'an-attacker-guessed-secret' }] });
    peer.send(response(ownerToken(forged, 'h2'), 'resp-2'), vip.port, vip.host);
    await waitFor('the forged response refused', () => c.responseRefused === 1);
    const text = await d.metrics.registry.metrics();
    expect(text).toContain('sipdisp_pop_events{event="response_refused"} 1');
    expect(text).toContain('sipdisp_pop_events{event="response_routed"} 1');
    // a later datagram still arrives first at h2 after the forged one: nothing of resp-2 was forwarded
    peer.send(response(ownerToken(ownerKeys, 'h2'), 'resp-3'), vip.port, vip.host);
    await waitFor('resp-3 at h2', () => atH2.length === before + 2);
    const third = opener.open(atH2[before + 1]!.bytes);
    expect(third.ok && third.payload.toString('latin1')).toContain('Call-ID: resp-3');
    peer.close();
  });
});
