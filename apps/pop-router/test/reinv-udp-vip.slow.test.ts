/**
 * C15 in network namespaces (root; CI runs as root): `udp` encapsulation with the VIP on every host's `lo`, as
 * tools/deploy/pop-host/pop-host.env configures a POP host, and the kernel's default `accept_local=0`. A client
 * namespace reaches the VIP through a router namespace whose route sends everything to host 1; the conference is
 * claimed by host 2, so every call is forwarded h1 → h2 through the udp tunnel. Before C15 the tunnel datagrams
 * left h1 from the VIP socket and h2's kernel dropped them as martians (its own address as a source); now they leave
 * from a socket not bound to the VIP and the calls complete. A control shows this kernel does drop the VIP-sourced
 * datagram, so the test would fail with the old sending socket. Namespaces are named `reinv-*`, deleted in
 * `finally`; processes are stopped by pid.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsLab, runSipp, untilReady, waitFor, type Spawned } from '@switchyard/testing';
import { keyringFile, SECRET, TOKEN } from './helpers.js';

const root = process.getuid?.() === 0;
if (!root) console.warn('reinv udp-VIP namespace suite skipped: needs root');

const ROOT = path.resolve(import.meta.dirname, '../../..');
const DISPATCHER_MAIN = path.join(ROOT, 'apps/host-dispatcher/dist/main.js');
const ROUTER_MAIN = path.join(ROOT, 'apps/pop-router/dist/main.js');
const VIP = '198.19.80.100';
const CLIENT = '198.18.80.2';
const hostAddr = (i: number) => `198.18.81.${10 + i}`;
const TUNNEL_PORT = 4790;
const CONF = 'reinv-udp-conf';

interface Host {
  id: string;
  ns: string;
  address: string;
  router: Spawned;
  dispatcher: Spawned;
}

describe.skipIf(!root)('udp encapsulation from a VIP shared on every host (C15, namespaces)', () => {
  let lab: NetnsLab;
  let client = '';
  const hosts: Host[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reinv-udp-vip-'));

  /** curl inside a host's namespace (the namespaces are not routed from the test's own). */
  const curl = (h: Host, port: number, pathname: string, extra: string[] = []) =>
    lab.run(h.ns, 'curl', [
      '-sf',
      '--max-time',
      '10',
      '-H',
      `Authorization: Bearer ${TOKEN}`,
      ...extra,
      `http://${h.address}:${port}${pathname}`,
    ]);
  const metric = async (h: Host, port: number, name: string): Promise<number> => {
    const text = await curl(h, port, '/metrics');
    let sum = 0;
    for (const line of text.split('\n'))
      if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{'))
        sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    return sum;
  };

  beforeAll(async () => {
    lab = await NetnsLab.create('reinv');
    try {
      client = await lab.namespace('c');
      const r = await lab.namespace('r');
      await lab.veth(
        { ns: client, name: 'c0', address: `${CLIENT}/24` },
        { ns: r, name: 'r0', address: '198.18.80.1/24' },
      );
      await lab.defaultRoute(client, '198.18.80.1');
      await lab.sysctl(r, 'net.ipv4.ip_forward', 1);
      await lab.bridge(r, 'br0', '198.18.81.1/24');
      const keyring = keyringFile(dir, SECRET);
      const tokenFile = path.join(dir, 'token');
      fs.writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
      const env = { ...process.env, LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'warn' };
      for (const i of [1, 2]) {
        const id = `reinv-h${i}`;
        const ns = await lab.namespace(`h${i}`);
        const address = hostAddr(i);
        await lab.veth(
          { ns, name: `${id}-0`, address: `${address}/24` },
          { ns: r, name: `r-${id}`, master: 'br0' },
        );
        await lab.defaultRoute(ns, '198.18.81.1');
        await lab.address(ns, 'lo', `${VIP}/32`);
        const runtimeDir = path.join(dir, id);
        fs.mkdirSync(runtimeDir, { mode: 0o700 });
        const router = lab.exec(
          ns,
          process.execPath,
          [
            ROUTER_MAIN,
            ...[
              '--id',
              id,
              '--address',
              address,
              '--gossip-transport',
              'unicast',
              '--gossip-profile',
              'test',
            ],
            ...['--seeds', `${hostAddr(3 - i)}:7946`, '--keyring-file', keyring, '--encapsulation', 'udp'],
            ...[
              '--tunnel-port',
              String(TUNNEL_PORT),
              '--dispatcher-socket',
              path.join(runtimeDir, 'workers.seqpacket'),
            ],
            ...['--host', address, '--port', '7947', '--token-file', tokenFile, '--link-retry-ms', '100'],
          ],
          { env },
        );
        const dispatcher = lab.exec(
          ns,
          process.execPath,
          [
            DISPATCHER_MAIN,
            ...['--listen', `${VIP}:5060`, '--listen', `${address}:5060`, '--runtime-dir', runtimeDir],
            ...['--control-host', address, '--control-port', '8060', '--control-token', TOKEN],
            ...[
              '--min-workers',
              '1',
              '--max-workers',
              '1',
              '--spare-workers',
              '0',
              '--drain-timeout-ms',
              '1000',
            ],
          ],
          { env: { ...env, SIPDISP_WORKER_START_TIMEOUT_MS: '120000' } },
        );
        hosts.push({ id, ns, address, router, dispatcher });
      }
      // every packet for the VIP goes to host 1 (ECMP that happens to pick the non-owner, every time)
      await lab.route(r, `${VIP}/32`, [{ via: hostAddr(1), dev: 'br0' }]);
      for (const h of hosts) {
        await untilReady(
          h.router,
          `${h.id} router ready`,
          () => h.router.output().includes('"popRouter":"ready"'),
          {
            timeoutMs: 120_000,
            intervalMs: 200,
          },
        );
        await untilReady(
          h.dispatcher,
          `${h.id} dispatcher ready`,
          async () =>
            ((JSON.parse(await curl(h, 8060, '/healthz').catch(() => '{}')) as { ready?: number }).ready ??
              0) >= 1,
          { timeoutMs: 180_000, intervalMs: 1000 },
        );
      }
      await waitFor(
        'both routers see both hosts alive and their dispatcher linked',
        async () => {
          for (const h of hosts) {
            const v = JSON.parse(await curl(h, 7947, '/v1/hosts')) as { hosts: { state: string }[] };
            if (v.hosts.filter((x) => x.state === 'alive').length !== 2) return false;
            const health = JSON.parse(await curl(h, 7947, '/healthz')) as { dispatcher?: boolean };
            if (!health.dispatcher) return false;
          }
          return true;
        },
        { timeoutMs: 60_000, intervalMs: 1000 },
      );
    } catch (err) {
      await lab.dispose().catch(() => undefined);
      throw err;
    }
  }, 420_000);

  afterAll(async () => {
    await lab?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('the kernel drops a VIP-sourced datagram to another host (martian) but delivers one from an unbound socket', async () => {
    const [h1, h2] = hosts as [Host, Host];
    expect((await lab.run(h2.ns, 'sysctl', ['-n', 'net.ipv4.conf.all.accept_local'])).trim()).toBe('0');
    const send = (bind: string) =>
      lab.run(h1.ns, process.execPath, [
        '-e',
        `const s=require('node:dgram').createSocket('udp4');` +
          `const go=()=>s.send(Buffer.from('reinv-probe'),${TUNNEL_PORT},'${h2.address}',()=>s.close());` +
          (bind ? `s.bind(0,'${bind}',go);` : 'go();'),
      ]);
    const before = await metric(h2, 7947, 'pop_tunnel_received_total');
    await send(VIP);
    await send('');
    // the unbound one arrives (dropped by the router as garbage, counted); the VIP-sourced one never does
    await waitFor(
      'the unbound probe at h2',
      async () => (await metric(h2, 7947, 'pop_tunnel_received_total')) > before,
      {
        timeoutMs: 10_000,
      },
    );
    await send('');
    await waitFor(
      'the second unbound probe at h2',
      async () => (await metric(h2, 7947, 'pop_tunnel_received_total')) >= before + 2,
      { timeoutMs: 10_000 },
    );
    expect(await metric(h2, 7947, 'pop_tunnel_received_total')).toBe(before + 2);
  }, 60_000);

  it('calls of a conference owned by host 2 that all land on host 1 are forwarded through the udp tunnel: 0 failed', async () => {
    const [h1, h2] = hosts as [Host, Host];
    await curl(h2, 7947, `/v1/sessions/${CONF}`, [
      '-X',
      'PUT',
      '-H',
      'content-type: application/json',
      '-d',
      '{"epoch":1}',
    ]);
    await waitFor(
      `host 1 knows host 2 owns ${CONF}`,
      async () => {
        const s = JSON.parse(await curl(h1, 7947, `/v1/sessions/${CONF}`).catch(() => '{}')) as {
          owner?: string;
        };
        return s.owner === h2.id;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    const forwarded = await metric(h1, 8060, 'sipdisp_pop_events{event="forwarded"}');
    const injected = await metric(h2, 8060, 'sipdisp_injected_total');
    const r = await runSipp({
      netns: client,
      localIp: CLIENT,
      target: `${VIP}:5060`,
      calls: 4,
      rate: 4,
      conferences: [CONF, CONF, CONF, CONF],
      callLengthMs: 500,
      timeoutS: 60,
    });
    expect(r.failed, r.diagnostics).toBe(0);
    expect(r.successful, r.diagnostics).toBe(4);
    // every call went h1 → h2: forwarded by h1, injected at h2 by its router
    expect(await metric(h1, 8060, 'sipdisp_pop_events{event="forwarded"}')).toBeGreaterThan(forwarded);
    expect(await metric(h2, 8060, 'sipdisp_injected_total')).toBeGreaterThan(injected);
  }, 120_000);
});
