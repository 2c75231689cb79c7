/**
 * The loopback POP, `udp` encapsulation, no root: 3 hosts on 127.0.3.1–3, each a real host-dispatcher and a
 * real pop-router process; SIPp sends the participants of one conference to different hosts.
 */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAllSpawned, waitFor } from '@switchyard/testing';
import { buildTunnelTemplate, deriveTunnelKeys, TunnelSealer } from '@switchyard/pop-wire';
import { SECRET, TOKEN } from './helpers.js';
import { sippUac, startLoopbackPop } from './loopback-pop.js';

type Pop = Awaited<ReturnType<typeof startLoopbackPop>>;

describe('loopback POP (udp encapsulation)', () => {
  let pop: Pop;
  beforeAll(async () => {
    pop = await startLoopbackPop(3);
  }, 300_000);
  afterAll(async () => {
    await pop?.stop();
    // whatever a failed set-up left running
    await stopAllSpawned();
  });

  it('participants of one conference sent to different hosts all reach one worker of the owner; 0 failed calls', async () => {
    const [h1, h2, h3] = pop.hosts as [Pop['hosts'][0], Pop['hosts'][0], Pop['hosts'][0]];
    const conf = 'conf-pop-a';
    // the first participants land on h2, which claims the conference
    const first = sippUac(h2.sip, { calls: 20, rate: 10, service: conf, callLengthMs: 3000 });
    await waitFor(`every router names h2 as the owner of ${conf}`, async () => {
      for (const h of pop.hosts) if ((await pop.owner(h, conf)) !== 'h2') return false;
      return true;
    });
    // later participants land on the other hosts (ECMP would do this) and are forwarded to h2
    const others = [
      sippUac(h1.sip, { calls: 20, rate: 10, service: conf, callLengthMs: 500 }),
      sippUac(h3.sip, { calls: 20, rate: 10, service: conf, callLengthMs: 500 }),
    ];
    const results = await Promise.all([first, ...others]);
    for (const r of results) {
      expect(r.failed, r.diagnostics).toBe(0);
      expect(r.successful, r.diagnostics).toBe(20);
    }
    expect(await pop.metric(h2, 'sipdisp_sessions_opened_total')).toBe(60);
    for (const h of [h1, h3]) {
      expect(await pop.metric(h, 'sipdisp_sessions_opened_total')).toBe(0);
      expect(await pop.metric(h, 'sipdisp_pop_events', { event: 'forwarded' })).toBeGreaterThan(0);
    }
    // one worker of the owner took every datagram of the conference
    const perWorker = await Promise.all(
      ['w1', 'w2'].map((w) => pop.metric(h2, 'sipdisp_forwarded_total', { worker: w })),
    );
    expect(perWorker.filter((n) => n > 0)).toHaveLength(1);
    for (const h of pop.hosts) expect(await pop.metric(h, 'sipdisp_affinity_violations_total')).toBe(0);
    expect(await pop.metric(h2, 'pop_tunnel_injected_total', {}, 'router')).toBeGreaterThan(0);
    // the last dialog ended: the owner released the conference everywhere
    await waitFor(`${conf} released everywhere`, async () => {
      for (const h of pop.hosts) if ((await pop.owner(h, conf)) !== undefined) return false;
      return true;
    });
  }, 120_000);

  it('simultaneous first packets of one conference on three hosts: one owner everywhere, 0 failed calls', async () => {
    const conf = 'conf-pop-b';
    const running = Promise.all(
      pop.hosts.map((h) => sippUac(h.sip, { calls: 10, rate: 10, service: conf, callLengthMs: 3000 })),
    );
    // while the calls run, every router converges on the same owner
    const owner = await waitFor(`one owner of ${conf} on every router`, async () => {
      const owners = await Promise.all(pop.hosts.map((h) => pop.owner(h, conf)));
      return owners[0] !== undefined && owners.every((o) => o === owners[0]) ? owners[0] : undefined;
    });
    expect(['h1', 'h2', 'h3']).toContain(owner);
    const results = await running;
    for (const r of results) expect(r.failed, r.diagnostics).toBe(0);
    for (const h of pop.hosts) expect(await pop.metric(h, 'sipdisp_affinity_violations_total')).toBe(0);
  }, 120_000);

  it('either side restarting resynchronises: the owner router killed, a non-owner dispatcher and router restarted; new calls still reach the owner; 0 failed calls', async () => {
    const [h1, , h3] = pop.hosts as [Pop['hosts'][0], Pop['hosts'][0], Pop['hosts'][0]];
    const conf = 'conf-pop-c';
    // assigned to h1 the way a scheduler does it (epoch > 0): the session outlives its dialogs, so the checks below
    // do not depend on calls still running (the former "empty table after a dispatcher restart" was exactly that:
    // the last call had ended, the owner released the conference, and the next call rightly claimed it afresh)
    const put = await fetch(`${h1.routerUrl}/v1/sessions/${conf}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ epoch: 1 }),
    });
    expect(put.status).toBe(200);
    await waitFor(`every router names h1 as the owner of ${conf}`, async () => {
      for (const h of pop.hosts) if ((await pop.owner(h, conf)) !== 'h1') return false;
      return true;
    });
    const h1Opened = await pop.metric(h1, 'sipdisp_sessions_opened_total');
    const long = sippUac(h1.sip, { calls: 5, rate: 5, service: conf, callLengthMs: 4000, timeoutS: 60 });
    // the owner's router dies mid-call and comes back with an empty table: the gossip full-state exchange and the
    // dispatcher's `held` list give it its session back
    await pop.restartRouter(h1, true);
    await waitFor(
      `h1's restarted router owns ${conf} again`,
      async () => (await pop.owner(h1, conf)) === 'h1',
      { timeoutMs: 20_000 },
    );
    const owners = (h: Pop['hosts'][0]) => pop.metric(h, 'sipdisp_pop_events', { event: 'owners' });

    // h3's dispatcher restarts: its router relinks and sends a snapshot with the owners
    const connectsBefore = await pop.metric(h3, 'pop_dispatcher_link_connects_total', {}, 'router');
    await pop.restartDispatcher(h3);
    await waitFor(
      'h3 router relinked',
      async () => (await pop.metric(h3, 'pop_dispatcher_link_connects_total', {}, 'router')) > connectsBefore,
    );
    await waitFor(`h3's new dispatcher knows the owner of ${conf}`, async () => (await owners(h3)) >= 1);
    const late = await sippUac(h3.sip, { calls: 5, rate: 5, service: conf, callLengthMs: 200 });
    expect(late.failed, late.diagnostics).toBe(0);
    expect(late.successful, late.diagnostics).toBe(5);
    // forwarded to h1, none handled on h3
    expect(await pop.metric(h3, 'sipdisp_sessions_opened_total')).toBe(0);
    expect(await pop.metric(h3, 'sipdisp_pop_events', { event: 'forwarded' })).toBeGreaterThan(0);

    // h3's router restarts (a non-owner): the dispatcher keeps forwarding with its last table, then gets a fresh
    // snapshot and the owner again once the new router has caught up by gossip
    await pop.restartRouter(h3);
    await waitFor(
      `h3's restarted router knows the owner of ${conf}`,
      async () => (await pop.owner(h3, conf)) === 'h1',
      { timeoutMs: 20_000 },
    );
    await waitFor(`h3's dispatcher knows the owner of ${conf} again`, async () => (await owners(h3)) >= 1);
    const later = await sippUac(h3.sip, { calls: 5, rate: 5, service: conf, callLengthMs: 200 });
    expect(later.failed, later.diagnostics).toBe(0);
    expect(await pop.metric(h3, 'sipdisp_sessions_opened_total')).toBe(0);
    const r = await long;
    expect(r.failed, r.diagnostics).toBe(0);
    expect(await pop.metric(h1, 'sipdisp_sessions_opened_total')).toBe(h1Opened + 15);
    for (const h of pop.hosts) expect(await pop.metric(h, 'sipdisp_affinity_violations_total')).toBe(0);
    const del = await fetch(`${h1.routerUrl}/v1/sessions/${conf}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(del.status).toBe(204);
  }, 240_000);

  it('owner tokens (C9): re-INVITEs and BYEs of calls owned elsewhere reach the owner through a host whose router restarted with no entry for them; a forged token is refused and counted', async () => {
    const [h1, h2] = pop.hosts as [Pop['hosts'][0], Pop['hosts'][0]];
    const conf = 'conf-pop-d';
    const auth = { authorization: `Bearer ${TOKEN}` };
    const put = await fetch(`${h1.routerUrl}/v1/sessions/${conf}`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ epoch: 1 }),
    });
    expect(put.status).toBe(200);
    await waitFor(`every router names h1 as the owner of ${conf}`, async () => {
      for (const h of pop.hosts) if ((await pop.owner(h, conf)) !== 'h1') return false;
      return true;
    });
    const opened = await pop.metric(h1, 'sipdisp_sessions_opened_total');
    // earlier tests of this suite opened sessions on h2: count from here
    const h2Opened = await pop.metric(h2, 'sipdisp_sessions_opened_total');
    const h2Routed = await pop.metric(h2, 'sipdisp_pop_events', { event: 'token_routed' });
    // every request lands on h2: the INVITEs are forwarded to h1 by the table, and h1's 200 carries a Contact with
    // h1's owner token, to which the re-INVITEs, ACKs and BYEs are sent (RFC 3261 §12.2.1.1)
    const calls = sippUac(h2.sip, {
      calls: 5,
      rate: 5,
      service: conf,
      callLengthMs: 45_000,
      timeoutS: 150,
      dialog: true,
    });
    await waitFor(
      'the 5 dialogs are up on h1',
      async () => (await pop.metric(h1, 'sipdisp_sessions_opened_total')) >= opened + 5,
      { timeoutMs: 40_000 },
    );
    // the conference leaves every table (h1 keeps its dialogs), and h2's router restarts with an empty table
    const del = await fetch(`${h1.routerUrl}/v1/sessions/${conf}`, { method: 'DELETE', headers: auth });
    expect(del.status).toBe(204);
    const connects = async () => pop.metric(h2, 'pop_dispatcher_link_connects_total', {}, 'router');
    await pop.restartRouter(h2, true);
    await waitFor('h2 relinked to its dispatcher', async () => (await connects()) >= 1);
    expect(await pop.owner(h2, conf)).toBeUndefined();
    const r = await calls;
    expect(r.failed, r.diagnostics).toBe(0);
    expect(r.successful, r.diagnostics).toBe(5);
    // none of it was handled on h2; re-INVITE, ACK and BYE of each call went by token
    expect(await pop.metric(h2, 'sipdisp_sessions_opened_total')).toBe(h2Opened);
    expect(await pop.metric(h2, 'sipdisp_pop_events', { event: 'token_routed' })).toBeGreaterThanOrEqual(
      h2Routed + 15,
    );
    for (const h of pop.hosts) expect(await pop.metric(h, 'sipdisp_affinity_violations_total')).toBe(0);

    // a BYE with a forged token naming h1: refused (counted), the table decides (no owner: answered here, 481)
    const refused = await pop.metric(h2, 'sipdisp_pop_events', { event: 'token_refused' });
    const s = dgram.createSocket('udp4');
    await new Promise<void>((res) => s.bind(0, '127.0.0.1', () => res()));
    try {
      const port = s.address().port;
      const [ip, sipPort] = h2.sip.split(':') as [string, string];
      const bye = Buffer.from(
        `BYE sip:${conf}@${h2.sip};sy-owner=h1.1.AAAAAAAAAAAAAAAAAAAAAA SIP/2.0\r\n` +
          `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bKforged1\r\nFrom: <sip:x@127.0.0.1>;tag=f1\r\n` +
          `To: <sip:${conf}@${h2.sip}>;tag=t1\r\nCall-ID: forged-token-1\r\nCSeq: 9 BYE\r\n` +
          `Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
      );
      const answer = new Promise<string>((res) => s.once('message', (m) => res(m.toString('latin1'))));
      s.send(bye, Number(sipPort), ip);
      expect((await answer).startsWith('SIP/2.0 481')).toBe(true);
      expect(await pop.metric(h2, 'sipdisp_pop_events', { event: 'token_refused' })).toBe(refused + 1);
    } finally {
      s.close();
    }
  }, 300_000);

  it('garbage, unauthenticated and replayed tunnel packets are dropped and counted; the router stays up', async () => {
    const h1 = pop.hosts[0]!;
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const send = (b: Buffer) => new Promise<void>((r) => s.send(b, pop.tunnelPort, h1.ip, () => r()));
    try {
      await send(Buffer.from('not a tunnel packet at all, just some bytes'));
      const forged = new TunnelSealer(
        { now: Date.now },
        deriveTunnelKeys({ primary: 1, keys: [{ id: 1, secret: 'an-attacker-guessed-secret' }] }),
      );
      const template = buildTunnelTemplate({ from: 'h2', to: 'h1', keyId: 1 });
      const out = Buffer.alloc(2000);
      const options = Buffer.from(
        'OPTIONS sip:probe@pop SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKpop\r\nFrom: <sip:t@x>;tag=1\r\n' +
          'To: <sip:probe@pop>\r\nCall-ID: tunnel-test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n',
      );
      await send(Buffer.from(out.subarray(0, forged.seal(out, template, 0, '127.0.0.1', 9, options))));
      const real = new TunnelSealer(
        { now: Date.now },
        deriveTunnelKeys({ primary: 1, keys: [{ id: 1, secret: SECRET }] }),
      );
      const valid = Buffer.from(out.subarray(0, real.seal(out, template, 0, '127.0.0.1', 9, options)));
      await send(valid);
      await send(valid);
      await waitFor('the four tunnel packets counted', async () => {
        const m = (reason: string) => pop.metric(h1, 'pop_tunnel_dropped_total', { reason }, 'router');
        return (await m('bad-magic')) >= 1 && (await m('bad-mac')) >= 1 && (await m('replay')) >= 1;
      });
      expect(await pop.metric(h1, 'pop_tunnel_injected_total', {}, 'router')).toBeGreaterThanOrEqual(1);
      expect((await fetch(`${h1.routerUrl}/healthz`)).status).toBe(200);
    } finally {
      s.close();
    }
  }, 60_000);
});
