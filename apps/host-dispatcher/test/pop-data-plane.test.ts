import { describe, expect, it } from 'vitest';
import { extractSipKeys, type SipKeys } from '@switchyard/affinity';
import {
  buildTunnelTemplate,
  buildVxlanTemplate,
  decodeVxlan,
  deriveOwnerKeys,
  deriveTunnelKeys,
  OWNER_PARAM,
  ownerToken,
  tunnelKeysToWire,
  TunnelOpener,
  vxlanMacFor,
  writeInjectedFrame,
  type LinkHost,
} from '@switchyard/pop-wire';
import { FRAME_INJECTED, readFrameHeader } from '../src/ipc.js';
import { POP_DATA_PLANE_TEST_PROFILE, PopDataPlane } from '../src/primary/pop-data-plane.js';

const keys = deriveTunnelKeys({ primary: 1, keys: [{ id: 1, secret: 'data-plane-test-secret' }] });
const now = { now: () => 1_700_000_000_000 };

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

function plane(draining = false) {
  const p = new PopDataPlane(now);
  p.apply({
    kind: 'snapshot',
    self: 'h1',
    mode: 'udp',
    draining,
    tunnelKeys: tunnelKeysToWire(keys),
    hosts: [host('h1'), host('h2'), host('h3')],
  });
  return p;
}

describe('POP data plane', () => {
  it('inactive until the router sends a snapshot: everything local', () => {
    const p = new PopDataPlane(now);
    expect(p.decide(sip('INVITE', 'conf-1', 'c1'), false)).toEqual({ kind: 'local' });
    expect(p.takeOutbox()).toEqual([]);
  });

  it('no owner → claimed here (once), then local', () => {
    const p = plane();
    expect(p.decide(sip('INVITE', 'conf-1', 'c1'), false)).toEqual({ kind: 'local' });
    expect(p.takeOutbox()).toEqual([{ event: 'claim', session: 'conf-1' }]);
    expect(p.decide(sip('INVITE', 'conf-1', 'c2'), false)).toEqual({ kind: 'local' });
    expect(p.takeOutbox()).toEqual([]);
    expect(p.ownerOf('conf-1')).toBe('h1');
  });

  it('owned by another live host → forwarded with its template; the owner opens it with the client address', () => {
    const p = plane();
    p.apply({ kind: 'delta', owners: [['conf-2', 'h2']] });
    const d = p.decide(sip('BYE', 'conf-2', 'c1', 'totag'), false);
    expect(d).toMatchObject({ kind: 'forward', host: { id: 'h2', address: '127.0.3.2', port: 4790 } });
    if (d.kind !== 'forward') return;
    const out = Buffer.alloc(3000);
    const n = p.encapsulate(out, d.host, 1, '127.0.0.1', 40000, Buffer.from('BYE …'));
    const r = new TunnelOpener(now, { self: 'h2', keys, maxAgeMs: 1000 }).open(out.subarray(0, n));
    expect(r).toMatchObject({ ok: true, from: 'h1', local: 1, address: '127.0.0.1', port: 40000 });
    expect(p.counters.forwarded).toBe(1);
  });

  it('one forward at most: an encapsulated arrival is handled here, counted when the table names another owner', () => {
    const p = plane();
    p.apply({ kind: 'delta', owners: [['conf-3', 'h3']] });
    expect(p.decide(sip('INVITE', 'conf-3', 'c1'), true)).toEqual({ kind: 'local' });
    expect(p.counters.disagreements).toBe(1);
    expect(p.takeOutbox()).toEqual([]);
  });

  it('owner dead → the next opening request claims the session here; non-opening requests stay local unclaimed', () => {
    const p = plane();
    p.apply({ kind: 'delta', owners: [['conf-4', 'h3']], hosts: [host('h3', false)] });
    expect(p.decide(sip('BYE', 'conf-4', 'c1', 't'), false)).toEqual({ kind: 'local' });
    expect(p.takeOutbox()).toEqual([]);
    expect(p.decide(sip('INVITE', 'conf-4', 'c2'), false)).toEqual({ kind: 'local' });
    expect(p.takeOutbox()).toEqual([{ event: 'claim', session: 'conf-4' }]);
  });

  it('draining: a new session is forwarded to a live host chosen by rendezvous hashing, never claimed here', () => {
    const p = plane(true);
    const d = p.decide(sip('INVITE', 'conf-5', 'c1'), false);
    expect(d.kind).toBe('forward');
    if (d.kind === 'forward') expect(['h2', 'h3']).toContain(d.host.id);
    expect(p.takeOutbox()).toEqual([]);
    // the same session always goes to the same host
    const again = p.decide(sip('INVITE', 'conf-5', 'c2'), false);
    expect(again).toEqual(d);
  });

  it('releases a session owned here when its last dialog ends; held lists sessions with dialogs', () => {
    const p = plane();
    p.decide(sip('INVITE', 'conf-6', 'c1'), false);
    p.takeOutbox();
    p.dialogOpened('conf-6', 'c1');
    p.dialogOpened('conf-6', 'c2');
    expect(p.held()).toEqual(['conf-6']);
    p.dialogClosed('conf-6', 'c1');
    expect(p.takeOutbox()).toEqual([]);
    p.dialogClosed('conf-6', 'c2');
    expect(p.takeOutbox()).toEqual([{ event: 'release', session: 'conf-6' }]);
    expect(p.held()).toEqual([]);
  });

  it('after a lost conflict, dialogs held here stay here; new dialogs follow the winner', () => {
    const p = plane();
    p.decide(sip('INVITE', 'conf-9', 'mine'), false);
    p.dialogOpened('conf-9', 'mine');
    p.apply({ kind: 'delta', owners: [['conf-9', 'h2']] });
    expect(p.decide(sip('BYE', 'conf-9', 'mine', 't'), false)).toEqual({ kind: 'local' });
    expect(p.decide(sip('INVITE', 'conf-9', 'new'), false)).toMatchObject({
      kind: 'forward',
      host: { id: 'h2' },
    });
  });

  it('a Call-ID bound here by the affinity router (INVITE retransmission before the dialog opened) stays here', () => {
    const bound = new Set(['retrans']);
    const p = new PopDataPlane({ ...now, boundHere: (c) => bound.has(c) });
    p.apply({
      kind: 'snapshot',
      self: 'h1',
      mode: 'udp',
      draining: false,
      tunnelKeys: tunnelKeysToWire(keys),
      hosts: [host('h2')],
    });
    p.apply({ kind: 'delta', owners: [['conf-10', 'h2']] });
    expect(p.decide(sip('INVITE', 'conf-10', 'retrans'), false)).toEqual({ kind: 'local' });
    expect(p.decide(sip('INVITE', 'conf-10', 'other'), false).kind).toBe('forward');
  });

  it('a new snapshot (router restarted) replaces the table', () => {
    const p = plane();
    p.apply({ kind: 'delta', owners: [['conf-7', 'h2']] });
    p.apply({ kind: 'snapshot', self: 'h1', mode: 'udp', draining: false, hosts: [host('h1')] });
    expect(p.ownerOf('conf-7')).toBeUndefined();
  });

  it('vxlan mode: the template carries the client address; an IPv6 client cannot be encapsulated (handled here)', () => {
    const p = new PopDataPlane(now);
    const t = buildVxlanTemplate({
      vni: 42,
      dstMac: vxlanMacFor('h2'),
      srcMac: vxlanMacFor('h1'),
      innerAddress: '198.19.0.101',
      innerPort: 5060,
    });
    p.apply({
      kind: 'snapshot',
      self: 'h1',
      mode: 'vxlan',
      draining: false,
      hosts: [{ id: 'h2', address: '198.18.1.2', port: 4789, template: t.toString('base64'), alive: true }],
    });
    p.apply({ kind: 'delta', owners: [['conf-8', 'h2']] });
    const d = p.decide(sip('INVITE', 'conf-8', 'c1'), false);
    if (d.kind !== 'forward') throw new Error('expected a forward');
    const out = Buffer.alloc(2000);
    const n = p.encapsulate(out, d.host, 0, '198.18.0.7', 40001, Buffer.from('INVITE'));
    expect(decodeVxlan(out.subarray(0, n))).toMatchObject({
      srcAddress: '198.18.0.7',
      srcPort: 40001,
      dstPort: 5060,
    });
    expect(p.encapsulate(out, d.host, 0, '::1', 40001, Buffer.from('INVITE'))).toBe(-1);
    expect(p.counters.encapFailed).toBe(1);
  });
});

it("the router's injected-datagram frame is the primary's frame header", () => {
  const out = Buffer.alloc(300);
  const n = writeInjectedFrame(out, 2, '198.18.0.7', 40001, Buffer.from('OPTIONS'));
  const h = readFrameHeader(out.subarray(0, n));
  expect(h).toMatchObject({
    type: FRAME_INJECTED,
    local: 2,
    address: '198.18.0.7',
    port: 40001,
    key: undefined,
  });
  expect(out.toString('latin1', h!.payloadOffset, n)).toBe('OPTIONS');
});

describe('POP data plane: owner tokens in the Request-URI (C9)', () => {
  const ownerKeys = deriveOwnerKeys({ primary: 1, keys: [{ id: 1, secret: 'data-plane-owner-secret' }] });

  function tokenPlane() {
    const p = new PopDataPlane(now);
    p.apply({
      kind: 'snapshot',
      self: 'h1',
      mode: 'udp',
      draining: false,
      tunnelKeys: tunnelKeysToWire(keys),
      ownerKeys: tunnelKeysToWire(ownerKeys),
      hosts: [host('h1'), host('h2'), host('h3')],
    });
    return p;
  }

  function raw(
    method: string,
    uri: string,
    callId: string,
    toTag?: string,
  ): { keys: SipKeys; bytes: Buffer } {
    const msg =
      `${method} ${uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5000;branch=z9hG4bK1\r\n` +
      `From: <sip:a@x>;tag=f\r\nTo: <sip:c@pop>${toTag ? `;tag=${toTag}` : ''}\r\nCall-ID: ${callId}\r\n` +
      `CSeq: 2 ${method}\r\nContent-Length: 0\r\n\r\n`;
    const bytes = Buffer.from(msg);
    const r = extractSipKeys(bytes);
    if (!r.ok) throw new Error(r.reason);
    return { keys: r.keys, bytes };
  }

  it('gives this host its own token for the Contact', () => {
    expect(tokenPlane().selfToken).toBe(ownerToken(ownerKeys, 'h1'));
    expect(plane().selfToken).toBeUndefined();
  });

  it('an in-dialog request with a valid token goes to the named host even with an empty owner table', () => {
    const p = tokenPlane();
    const m = raw('BYE', `sip:conf-9@pop;${OWNER_PARAM}=${ownerToken(ownerKeys, 'h3')}`, 'c9', 'tt');
    const d = p.decide(m.keys, false, m.bytes);
    expect(d.kind).toBe('forward');
    expect(d.kind === 'forward' && d.host.id).toBe('h3');
    expect(p.counters.tokenRouted).toBe(1);
    // its own token: handled here
    const own = raw('BYE', `sip:conf-9@pop;${OWNER_PARAM}=${ownerToken(ownerKeys, 'h1')}`, 'c10', 'tt');
    expect(p.decide(own.keys, false, own.bytes)).toEqual({ kind: 'local' });
    expect(p.counters.tokenRouted).toBe(2);
    expect(p.takeOutbox()).toEqual([]);
  });

  it('the token wins over the table (the table may be stale); an arrived-encapsulated request is never bounced', () => {
    const p = tokenPlane();
    p.apply({ kind: 'delta', owners: [['conf-9', 'h2']] });
    const m = raw('INVITE', `sip:conf-9@pop;${OWNER_PARAM}=${ownerToken(ownerKeys, 'h3')}`, 'c9', 'tt');
    const d = p.decide(m.keys, false, m.bytes);
    expect(d.kind === 'forward' && d.host.id).toBe('h3');
    expect(p.decide(m.keys, true, m.bytes)).toEqual({ kind: 'local' });
  });

  it('a forged token is refused and counted: the table decides', () => {
    const p = tokenPlane();
    p.apply({ kind: 'delta', owners: [['conf-9', 'h2']] });
    const forged = deriveOwnerKeys({ primary: 1, keys: [{ id: 1, secret: 'an-attacker-guessed-secret' }] });
    const m = raw('BYE', `sip:conf-9@pop;${OWNER_PARAM}=${ownerToken(forged, 'h3')}`, 'c9', 'tt');
    const d = p.decide(m.keys, false, m.bytes);
    expect(d.kind === 'forward' && d.host.id).toBe('h2');
    expect(p.counters.tokenRefused).toBe(1);
    expect(p.counters.tokenRouted).toBe(0);
  });

  it('a token of a host that is not alive is stale: counted, the table decides; a removed host is refused', () => {
    const p = tokenPlane();
    p.apply({ kind: 'delta', hosts: [host('h3', false)] });
    const m = raw('BYE', `sip:conf-9@pop;${OWNER_PARAM}=${ownerToken(ownerKeys, 'h3')}`, 'c9', 'tt');
    expect(p.decide(m.keys, false, m.bytes)).toEqual({ kind: 'local' });
    expect(p.counters.tokenStale).toBe(1);
    p.apply({ kind: 'delta', hostsRemoved: ['h3'] });
    p.decide(m.keys, false, m.bytes);
    expect(p.counters.tokenRefused).toBe(1);
    // a host that joins later is vouched for once it is in the table
    p.apply({ kind: 'delta', hosts: [host('h4')] });
    const j = raw('BYE', `sip:conf-9@pop;${OWNER_PARAM}=${ownerToken(ownerKeys, 'h4')}`, 'c11', 'tt');
    expect(p.decide(j.keys, false, j.bytes).kind).toBe('forward');
  });

  it("a conflict's loser keeps its dialog: a BYE sent to its worker's Contact reaches it from any host (issue 10)", () => {
    // three hosts of one POP, as the namespace POP test; each plane its own host
    const planes = new Map(
      ['h1', 'h2', 'h3'].map((self) => {
        const p = new PopDataPlane(now);
        p.apply({
          kind: 'snapshot',
          self,
          mode: 'udp',
          draining: false,
          tunnelKeys: tunnelKeysToWire(keys),
          ownerKeys: tunnelKeysToWire(ownerKeys),
          hosts: [host('h1'), host('h2'), host('h3')],
        });
        return [self, p];
      }),
    );
    const at = (id: string) => planes.get(id)!;
    // first INVITEs of one conference land on h1 and h2 within one gossip round: both claim
    expect(at('h1').decide(raw('INVITE', 'sip:conf-x@pop', 'call-a').keys, false)).toEqual({ kind: 'local' });
    expect(at('h2').decide(raw('INVITE', 'sip:conf-x@pop', 'call-b').keys, false)).toEqual({ kind: 'local' });
    expect(at('h1').takeOutbox()).toEqual([{ event: 'claim', session: 'conf-x' }]);
    expect(at('h2').takeOutbox()).toEqual([{ event: 'claim', session: 'conf-x' }]);
    at('h1').dialogOpened('conf-x', 'call-a');
    at('h2').dialogOpened('conf-x', 'call-b');
    // the routers converge on h2 (the tie-break); every host's table says so
    for (const p of planes.values()) p.apply({ kind: 'delta', owners: [['conf-x', 'h2']] });
    const contact = `sip:conf-x@198.19.0.100:5060;${OWNER_PARAM}=${at('h1').selfToken}`;
    const toContact = raw('BYE', contact, 'call-a', 'tt');
    const toFixedUri = raw('BYE', 'sip:conf-x@198.19.0.100:5060', 'call-a', 'tt');

    // the BYE to the Contact, wherever ECMP lands it, goes to h1, whose worker holds call-a
    const onThird = at('h3').decide(toContact.keys, false, toContact.bytes);
    expect(onThird.kind === 'forward' && onThird.host.id).toBe('h1');
    const onWinner = at('h2').decide(toContact.keys, false, toContact.bytes);
    expect(onWinner.kind === 'forward' && onWinner.host.id).toBe('h1');
    expect(at('h1').decide(toContact.keys, false, toContact.bytes)).toEqual({ kind: 'local' });
    expect(at('h1').decide(toContact.keys, true, toContact.bytes)).toEqual({ kind: 'local' });
    expect(at('h3').counters.tokenRouted + at('h2').counters.tokenRouted).toBe(2);
    // the loser keeps its own dialog even with no token at all (localCalls)
    expect(at('h1').decide(toFixedUri.keys, false, toFixedUri.bytes)).toEqual({ kind: 'local' });

    // what SIPp's built-in uac did: the BYE to the initial Request-URI carries no token, so a third host can only
    // follow the table, to the winner, which does not hold call-a (481) and handles the arrival itself
    const fixedOnThird = at('h3').decide(toFixedUri.keys, false, toFixedUri.bytes);
    expect(fixedOnThird.kind === 'forward' && fixedOnThird.host.id).toBe('h2');
    expect(at('h2').decide(toFixedUri.keys, true, toFixedUri.bytes)).toEqual({ kind: 'local' });
    // the winner's own dialog stays with it
    const winnerBye = raw(
      'BYE',
      `sip:conf-x@198.19.0.100:5060;${OWNER_PARAM}=${at('h2').selfToken}`,
      'call-b',
      't',
    );
    const w = at('h1').decide(winnerBye.keys, false, winnerBye.bytes);
    expect(w.kind === 'forward' && w.host.id).toBe('h2');
  });

  it('requests that open a session and responses ignore tokens', () => {
    const p = tokenPlane();
    const m = raw('INVITE', `sip:conf-8@pop;${OWNER_PARAM}=${ownerToken(ownerKeys, 'h3')}`, 'c8');
    expect(p.decide(m.keys, false, m.bytes)).toEqual({ kind: 'local' });
    expect(p.counters.tokenRouted).toBe(0);
    expect(p.takeOutbox()).toEqual([{ event: 'claim', session: 'conf-8' }]);
  });
  describe('responses by their top Via token (C14)', () => {
    function response(callId: string, via: string): { keys: SipKeys; bytes: Buffer } {
      const bytes = Buffer.from(
        `SIP/2.0 200 OK\r\nVia: ${via}\r\nFrom: <sip:c@pop>;tag=ours\r\nTo: <sip:a@x>;tag=f\r\n` +
          `Call-ID: ${callId}\r\nCSeq: 3 INVITE\r\nContent-Length: 0\r\n\r\n`,
      );
      const r = extractSipKeys(bytes);
      if (!r.ok) throw new Error(r.reason);
      return { keys: r.keys, bytes };
    }
    const via = (t: string) => `SIP/2.0/UDP 127.0.3.3:5060;branch=z9hG4bK-mv-1;rport;${OWNER_PARAM}=${t}`;

    it('a response landing on a non-owner goes to the host its top Via names, with an empty table; counted', () => {
      const p = tokenPlane();
      const r = response('r1', via(ownerToken(ownerKeys, 'h3')));
      const d = p.decide(r.keys, false, r.bytes);
      expect(d.kind === 'forward' && d.host.id).toBe('h3');
      expect(p.counters.responseRouted).toBe(1);
      // never a claim, never the request counters
      expect(p.takeOutbox()).toEqual([]);
      expect(p.counters.tokenRouted).toBe(0);
      // on the owner (its own token) it is handled here: the Call-ID binding finds the worker
      const own = response('r2', via(ownerToken(ownerKeys, 'h1')));
      expect(p.decide(own.keys, false, own.bytes)).toEqual({ kind: 'local' });
      // arrived encapsulated: handled here, never forwarded again
      expect(p.decide(r.keys, true, r.bytes)).toEqual({ kind: 'local' });
      expect(p.counters.responseRouted).toBe(1);
    });

    it('a forged or stale Via token is counted and the table decides (a Call-ID session owned elsewhere)', () => {
      const p = tokenPlane();
      const forged = deriveOwnerKeys({ primary: 1, keys: [{ id: 1, secret: 'an-attacker-guessed-secret' }] });
      const f = response('r3', via(ownerToken(forged, 'h3')));
      expect(p.decide(f.keys, false, f.bytes)).toEqual({ kind: 'local' });
      expect(p.counters.responseRefused).toBe(1);
      p.apply({ kind: 'delta', owners: [['r3', 'h2']] });
      const d = p.decide(f.keys, false, f.bytes);
      expect(d.kind === 'forward' && d.host.id).toBe('h2');
      expect(p.counters.responseRefused).toBe(2);
      p.apply({ kind: 'delta', hosts: [host('h3', false)] });
      const st = response('r4', via(ownerToken(ownerKeys, 'h3')));
      expect(p.decide(st.keys, false, st.bytes)).toEqual({ kind: 'local' });
      expect(p.counters.responseStale).toBe(1);
      expect(p.counters.responseRouted).toBe(0);
      // no token at all: as before C14
      const none = response('r5', 'SIP/2.0/UDP 127.0.3.3:5060;branch=z9hG4bK-x');
      expect(p.decide(none.keys, false, none.bytes)).toEqual({ kind: 'local' });
      expect(p.takeOutbox()).toEqual([]);
    });
  });
});

// A forwarded call's transaction follows its opening request (the cause of the failed calls of the pop-calls
// benchmark): its retransmissions and CANCEL go where the INVITE went even after the table changed.
/** h1's data plane (a non-owner of conf-1, which h2 owns) with a hand-driven clock. */
function followPlane() {
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
    const { p } = followPlane();
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
    const { p } = followPlane();
    expect(p.decide(sip('INVITE', 'conf-1', 'c1'), false)).toMatchObject(to('h2'));
    p.apply({ kind: 'delta', owners: [['conf-1', 'h3']] });
    expect(p.decide(sip('INVITE', 'conf-1', 'c1'), false)).toMatchObject(to('h2'));
    expect(p.decide(sip('CANCEL', 'conf-1', 'c1'), false)).toMatchObject(to('h2'));
    expect(p.decide(sip('INVITE', 'conf-1', 'c9'), false)).toMatchObject(to('h3'));
    expect(p.counters.followed).toBe(2);
  });

  it('in-dialog requests (To tag) and arrived-encapsulated datagrams are not followed', () => {
    const { p } = followPlane();
    expect(p.decide(sip('INVITE', 'conf-1', 'c1'), false)).toMatchObject(to('h2'));
    p.apply({ kind: 'delta', owners: [['conf-1', 'h3']] });
    // no token here: the table decides an in-dialog request
    expect(p.decide(sip('BYE', 'conf-1', 'c1', 'tt'), false)).toMatchObject(to('h3'));
    // one forward at most: an encapsulated copy is handled where it lands
    expect(p.decide(sip('INVITE', 'conf-1', 'c1'), true)).toEqual({ kind: 'local' });
    expect(p.counters.followed).toBe(0);
  });

  it('a followed host that died: the table decides', () => {
    const { p } = followPlane();
    expect(p.decide(sip('INVITE', 'conf-1', 'c1'), false)).toMatchObject(to('h2'));
    p.apply({ kind: 'delta', hosts: [host('h2', false)], owners: [['conf-1', null]] });
    expect(p.decide(sip('INVITE', 'conf-1', 'c1'), false)).toEqual({ kind: 'local' });
    expect(p.takeOutbox()).toEqual([{ event: 'claim', session: 'conf-1' }]);
    expect(p.counters.followed).toBe(0);
  });

  it('forgotten after two generations, and bounded per generation', () => {
    const { p, clock } = followPlane();
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
