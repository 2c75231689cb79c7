/**
 * A forwarded call's transaction follows its opening request (the cause of the failed calls of the pop-calls
 * benchmark): its retransmissions and CANCEL go where the INVITE went even after the table changed.
 */
import { describe, expect, it } from 'vitest';
import { extractSipKeys, type SipKeys } from '@switchyard/affinity';
import { buildTunnelTemplate, deriveTunnelKeys, tunnelKeysToWire, type LinkHost } from '@switchyard/pop-wire';
import { POP_DATA_PLANE_TEST_PROFILE, PopDataPlane } from '../src/primary/pop-data-plane.js';

const keys = deriveTunnelKeys({ primary: 1, keys: [{ id: 1, secret: 'follow-test-secret' }] });

function sip(method: string, conf: string, callId: string, toTag?: string): SipKeys {
  const msg =
    `${method} sip:${conf}@pop SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5000;branch=z9hG4bK1\r\n` +
    `From: <sip:a@x>;tag=f\r\nTo: <sip:${conf}@pop>${toTag ? `;tag=${toTag}` : ''}\r\nCall-ID: ${callId}\r\n` +
    `CSeq: 1 ${method}\r\nContent-Length: 0\r\n\r\n`;
  const r = extractSipKeys(Buffer.from(msg));
  if (!r.ok) throw new Error(r.reason);
  return r.keys;
}

const host = (id: string, alive = true): LinkHost => ({
  id,
  address: `127.0.3.${id.slice(1)}`,
  port: 4790,
  template: buildTunnelTemplate({ from: 'h1', to: id, keyId: 1 }).toString('base64'),
  alive,
});

/** h1's data plane (a non-owner of conf-1, which h2 owns) with a hand-driven clock. */
function plane() {
  const clock = { t: 1_700_000_000_000 };
  const p = new PopDataPlane({ now: () => clock.t }, POP_DATA_PLANE_TEST_PROFILE);
  p.apply({
    kind: 'snapshot',
    self: 'h1',
    mode: 'udp',
    draining: false,
    tunnelKeys: tunnelKeysToWire(keys),
    hosts: [host('h1'), host('h2'), host('h3')],
  });
  p.apply({ kind: 'delta', owners: [['conf-1', 'h2']] });
  return { p, clock };
}

const to = (id: string) => ({ kind: 'forward', host: { id } });

describe('POP data plane: a forwarded transaction follows its opening request', () => {
  it('a retransmitted INVITE goes where the first went after the owner released the session (not claimed here)', () => {
    const { p } = plane();
    expect(p.decide(sip('INVITE', 'conf-1', 'c1'), false)).toMatchObject(to('h2'));
    // h2's call ended before our copy of the table saw this one: the session is released everywhere
    p.apply({ kind: 'delta', owners: [['conf-1', null]] });
    expect(p.decide(sip('INVITE', 'conf-1', 'c1'), false)).toMatchObject(to('h2'));
    expect(p.takeOutbox()).toEqual([]);
    expect(p.counters.followed).toBe(1);
    // a new call of the conference is decided by the table: unowned, so claimed here
    expect(p.decide(sip('INVITE', 'conf-1', 'c2'), false)).toEqual({ kind: 'local' });
    expect(p.takeOutbox()).toEqual([{ event: 'claim', session: 'conf-1' }]);
  });

  it('retransmissions and CANCEL follow even when the table names another owner now', () => {
    const { p } = plane();
    expect(p.decide(sip('INVITE', 'conf-1', 'c1'), false)).toMatchObject(to('h2'));
    p.apply({ kind: 'delta', owners: [['conf-1', 'h3']] });
    expect(p.decide(sip('INVITE', 'conf-1', 'c1'), false)).toMatchObject(to('h2'));
    expect(p.decide(sip('CANCEL', 'conf-1', 'c1'), false)).toMatchObject(to('h2'));
    expect(p.decide(sip('INVITE', 'conf-1', 'c9'), false)).toMatchObject(to('h3'));
    expect(p.counters.followed).toBe(2);
  });

  it('in-dialog requests (To tag) and arrived-encapsulated datagrams are not followed', () => {
    const { p } = plane();
    expect(p.decide(sip('INVITE', 'conf-1', 'c1'), false)).toMatchObject(to('h2'));
    p.apply({ kind: 'delta', owners: [['conf-1', 'h3']] });
    // no token here: the table decides an in-dialog request
    expect(p.decide(sip('BYE', 'conf-1', 'c1', 'tt'), false)).toMatchObject(to('h3'));
    // one forward at most: an encapsulated copy is handled where it lands
    expect(p.decide(sip('INVITE', 'conf-1', 'c1'), true)).toEqual({ kind: 'local' });
    expect(p.counters.followed).toBe(0);
  });

  it('a followed host that died: the table decides', () => {
    const { p } = plane();
    expect(p.decide(sip('INVITE', 'conf-1', 'c1'), false)).toMatchObject(to('h2'));
    p.apply({ kind: 'delta', hosts: [host('h2', false)], owners: [['conf-1', null]] });
    expect(p.decide(sip('INVITE', 'conf-1', 'c1'), false)).toEqual({ kind: 'local' });
    expect(p.takeOutbox()).toEqual([{ event: 'claim', session: 'conf-1' }]);
    expect(p.counters.followed).toBe(0);
  });

  it('forgotten after two generations, and bounded per generation', () => {
    const { p, clock } = plane();
    const gen = POP_DATA_PLANE_TEST_PROFILE.followMs;
    expect(p.decide(sip('INVITE', 'conf-1', 'c1'), false)).toMatchObject(to('h2'));
    p.apply({ kind: 'delta', owners: [['conf-1', 'h3']] });
    clock.t += gen; // one generation later: still followed
    expect(p.decide(sip('INVITE', 'conf-1', 'c1'), false)).toMatchObject(to('h2'));
    clock.t += 2 * gen; // past both generations: the table decides
    expect(p.decide(sip('INVITE', 'conf-1', 'c1'), false)).toMatchObject(to('h3'));

    // a flood of new calls keeps at most two generations of followMax entries: the oldest are forgotten
    p.apply({ kind: 'delta', owners: [['conf-1', 'h2']] });
    const n = 5 * POP_DATA_PLANE_TEST_PROFILE.followMax;
    for (let i = 0; i < n; i++)
      expect(p.decide(sip('INVITE', 'conf-1', `f${i}`), false)).toMatchObject(to('h2'));
    p.apply({ kind: 'delta', owners: [['conf-1', 'h3']] });
    expect(p.decide(sip('INVITE', 'conf-1', 'f0'), false)).toMatchObject(to('h3'));
    expect(p.decide(sip('INVITE', 'conf-1', `f${n - 1}`), false)).toMatchObject(to('h2'));
  });
});
