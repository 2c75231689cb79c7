/**
 * TLS on the registration port, with certificates made at test time by the openssl CLI (helpers/certs.ts): a
 * real mixer process registers over TLS and is allocated through the balancer (direct and reverse mode, the
 * latter serving HTTP/2 inside the TLS connection it dialed); a container trusting another CA, or expecting
 * another server name, is refused with LNK_ERR_TLS and never registers; a plain-TCP client on the TLS port gets
 * no welcome and is counted as BAL_ERR_TLS; bad TLS settings name their field.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ManualClock, systemClock } from '@switchyard/core';
import { ContainerLink, type LinkEvent } from '@switchyard/container-link';
import { stopAllSpawned, thrownBy, waitFor } from '@switchyard/testing';
import { BALANCER_TEST_PROFILE, BalancerSettings, resolveConfig, type BalancerApp } from '../src/index.js';
import { makeTestCerts, type TestCerts } from './helpers/certs.js';
import {
  API_TOKEN,
  HOST,
  REG_TOKEN,
  hb,
  hello,
  json,
  rawConnection,
  record,
  spawnMixer,
  startBalancer,
  waitForQueue,
} from './helpers/start.js';

interface Allocated {
  containerId: string;
  allocation: { conference: string; rtp: { address: string; port: number } };
}

describe('TLS on the registration port', () => {
  let certs: TestCerts;
  let b: BalancerApp;
  const links: ContainerLink[] = [];
  const tlsRejected = () => b.registration.rejectedCounts.get('BAL_ERR_TLS') ?? 0;
  const allocate = async (key: string) => {
    const res = await fetch(`${b.url}/v1/allocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${API_TOKEN}` },
      body: JSON.stringify({ service: 'mixer', key }),
    });
    expect(res.status).toBe(200);
    return json<Allocated>(res);
  };
  /** An in-process container link over TLS trusting `ca`, collecting its events. */
  const link = (id: string, ca: string, servername?: string) => {
    const l = new ContainerLink(
      { clock: systemClock },
      {
        host: HOST,
        port: b.registrationAddress().port,
        token: REG_TOKEN,
        mode: 'direct',
        heartbeatMs: 50,
        reconnectMs: 200,
        record: { id, service: 'tls-links', capacity: 10, address: `${HOST}:9` },
        tls: { ca: readPem(ca), ...(servername ? { servername } : {}) },
      },
    );
    const events: LinkEvent[] = [];
    l.on((e) => events.push(e));
    links.push(l);
    return { l, events };
  };

  beforeAll(async () => {
    certs = makeTestCerts({ dns: ['balancer.test'], ip: [HOST] });
    b = await startBalancer(systemClock, { tlsCertFile: certs.certFile, tlsKeyFile: certs.keyFile });
  });
  afterAll(async () => {
    for (const l of links) await l.stop();
    await stopAllSpawned();
    await b?.stop();
    certs.remove();
  });

  it('a mixer process registers over TLS and is allocated through the balancer', async () => {
    const m = await spawnMixer(b, 'tls-m1', ['--balancer-ca-file', certs.caFile]);
    await waitForQueue(b, ['tls-m1']);
    const a = await allocate('tls-conf-1');
    expect(a.containerId).toBe('tls-m1');
    expect(a.allocation.rtp.port).toBeGreaterThan(0);
    const res = await fetch(`${b.url}/svc/mixer/v1/stats`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { id: string }).id).toBe('tls-m1');
    await m.proc.stop();
    await waitForQueue(b, []);
  }, 120_000);

  it('a reverse-mode mixer serves HTTP/2 inside the TLS connection it dialed', async () => {
    const r = await spawnMixer(b, 'tls-r1', ['--mode', 'reverse', '--balancer-ca-file', certs.caFile]);
    expect(r.url).toBeNull();
    await waitForQueue(b, ['tls-r1']);
    const a = await allocate('tls-conf-2');
    expect(a.containerId).toBe('tls-r1');
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${b.url}/svc/mixer/v1/stats`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { id: string }).id).toBe('tls-r1');
    }
    await r.proc.stop();
    await waitForQueue(b, []);
  }, 120_000);

  it('registers a container that names the server (SNI) the certificate carries', async () => {
    const { events } = link('named', certs.caFile, 'balancer.test');
    await links.at(-1)!.start();
    await waitFor('named registered', () => events.some((e) => e.type === 'registered'));
    expect(b.table.get('named')).toBeDefined();
  });

  it('refuses a container trusting another CA with a clear LNK_ERR_TLS, and counts it at the balancer', async () => {
    const before = tlsRejected();
    const { l, events } = link('wrong-ca', certs.otherCaFile);
    await l.start();
    const e = await waitFor('wrong-ca refused', () => events.find((x) => x.type === 'rejected'));
    if (e.type !== 'rejected') throw new Error('unreachable');
    expect(e.error.code).toBe('LNK_ERR_TLS');
    expect(e.error.message).toMatch(/TLS with the balancer .* failed: .*check the CA file/);
    expect(String(e.error.details?.['code'])).toMatch(/CERT|ISSUER|SIGNATURE/);
    await waitFor('the balancer counted the failed handshake', () => tlsRejected() > before);
    expect(events.some((x) => x.type === 'registered')).toBe(false);
    expect(b.table.get('wrong-ca')).toBeUndefined();
    await l.stop();
  });

  it('refuses a container expecting another server name', async () => {
    const { l, events } = link('wrong-name', certs.caFile, 'other.test');
    await l.start();
    const e = await waitFor('wrong-name refused', () => events.find((x) => x.type === 'rejected'));
    if (e.type !== 'rejected') throw new Error('unreachable');
    expect(e.error.code).toBe('LNK_ERR_TLS');
    expect(e.error.details?.['code']).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(b.table.get('wrong-name')).toBeUndefined();
    await l.stop();
  });

  it('refuses a plain-TCP client on the TLS port and counts it; registered containers are untouched', async () => {
    // a refused container of an earlier test may still have a handshake the balancer has yet to count
    await waitFor('no TLS handshake in progress', () => b.registration.handshakingCount === 0);
    const before = tlsRejected();
    const c = rawConnection(b.registrationAddress().port, [hello(), hb(record('plain'))]);
    await c.closed;
    const got = c.received();
    // nothing, or a TLS alert record (content type 21): never a registration reply
    expect(got.length === 0 || got[0] === 0x15).toBe(true);
    expect(tlsRejected()).toBe(before + 1);
    expect(b.table.get('plain')).toBeUndefined();
    expect(b.table.get('named')).toBeDefined();
    const metrics = await (await fetch(`${b.url}/metrics`)).text();
    expect(metrics).toMatch(/balancer_registrations_rejected_total\{code="BAL_ERR_TLS"\} [1-9]/);
  });

  it('names the field of a bad TLS setting', () => {
    const cfg = (over: Record<string, unknown>) => () =>
      resolveConfig(BalancerSettings.parse({ registrationToken: REG_TOKEN, ...over }));
    expect(thrownBy(cfg({ tlsCertFile: certs.certFile }), ConfigError).field).toBe('tlsKeyFile');
    expect(thrownBy(cfg({ tlsKeyFile: certs.keyFile }), ConfigError).field).toBe('tlsCertFile');
    expect(
      thrownBy(cfg({ tlsCertFile: `${certs.dir}/missing.pem`, tlsKeyFile: certs.keyFile }), ConfigError)
        .field,
    ).toBe('tlsCertFile');
    // a key that is not the certificate's
    expect(
      thrownBy(cfg({ tlsCertFile: certs.certFile, tlsKeyFile: `${certs.dir}/ca.key` }), ConfigError).field,
    ).toBe('tlsKeyFile');
    expect(cfg({ tlsCertFile: certs.certFile, tlsKeyFile: certs.keyFile })().tlsValue).toBeDefined();
  });
});

function readPem(file: string): string {
  return fs.readFileSync(file, 'utf8');
}

describe('the TLS handshake deadline runs on the injected clock', () => {
  it('closes a connection that never starts its handshake exactly when the clock passes the hello timeout', async () => {
    const certs = makeTestCerts({ dns: ['balancer.test'], ip: [HOST] });
    const clock = new ManualClock();
    const b = await startBalancer(clock, { tlsCertFile: certs.certFile, tlsKeyFile: certs.keyFile });
    try {
      const tlsRejected = () => b.registration.rejectedCounts.get('BAL_ERR_TLS') ?? 0;
      const idle = clock.pending(); // the registration server's own ticker
      const mute = rawConnection(b.registrationAddress().port, []); // connects, never says anything
      await waitFor('the balancer arms the handshake deadline', () => clock.pending() === idle + 1);
      await clock.advanceAsync(BALANCER_TEST_PROFILE.helloTimeoutMs - 1);
      expect(mute.sock.destroyed).toBe(false);
      expect(tlsRejected()).toBe(0);
      await clock.advanceAsync(1);
      await mute.closed;
      expect(tlsRejected()).toBe(1);
      expect(clock.pending()).toBe(idle);
    } finally {
      await b.stop();
      certs.remove();
    }
  });
});
