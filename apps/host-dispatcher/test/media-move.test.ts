/**
 * A conference whose mixer died (issue 13): the pure parts table by table, then the mover wired to a real SipUas and
 * a real HTTP server in the balancer's place (contract C4), its clock manual: detection by the container list,
 * the new allocation, the re-INVITE each participant gets (target, CSeq, SDP), its ACK, and every failure.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '@switchyard/core';
import { conferenceOfUri } from '@switchyard/affinity';
import {
  BalancerMediaSource,
  MediaMover,
  SipUas,
  buildAck,
  buildReinvite,
  dialogTargetOfInvite,
  dialogTargetOfState,
  headerValue,
  mixerLost,
  nextHop,
  parseSipMessage,
  reinviteOutcome,
  sdpOffer,
  serializeSipMessage,
  sipHostPort,
  type DialogState,
  type DialogTarget,
  type Peer,
  type SipRequest,
  type SipResponse,
} from '../src/index.js';
import { invite } from './sip-fixtures.js';

const mixer = (id: string, port: number) => ({ address: '127.0.0.77', port, containerId: id });

describe('media move: pure parts', () => {
  it.each([
    ['sip:sipp@127.0.0.1:5080', { host: '127.0.0.1', port: 5080 }],
    ['<sip:sipp@127.0.0.1:5080;transport=udp>', { host: '127.0.0.1', port: 5080 }],
    ['sip:edge.example.com;lr', { host: 'edge.example.com', port: 5060 }],
    ['sip:u@[::1]:5070', { host: '::1', port: 5070 }],
    ['sips:u@h', { host: 'h', port: 5060 }],
    ['tel:+123', undefined],
    ['sip:u@h:0', undefined],
    ['sip:u@h:70000', undefined],
  ])('sipHostPort(%s)', (uri, want) => {
    expect(sipHostPort(uri)).toEqual(want);
  });

  it('sends to the first route (loose routing), else to the remote target', () => {
    expect(nextHop({ remoteTarget: 'sip:a@10.0.0.1:5080', routeSet: [] })).toEqual({
      host: '10.0.0.1',
      port: 5080,
    });
    expect(
      nextHop({ remoteTarget: 'sip:a@10.0.0.1:5080', routeSet: ['<sip:p1.example:5062;lr>', '<sip:p2;lr>'] }),
    ).toEqual({ host: 'p1.example', port: 5062 });
  });

  it.each([
    [100, 'proceeding'],
    [180, 'proceeding'],
    [200, 'moved'],
    [202, 'moved'],
    [491, 'retry-later'],
    [481, 'dialog-gone'],
    [408, 'dialog-gone'],
    [488, 'refused'],
    [500, 'refused'],
    [603, 'refused'],
  ] as const)('a %i to the re-INVITE means %s', (status, want) => {
    expect(reinviteOutcome(status)).toBe(want);
  });

  it.each([
    ['listed, first seen', [{ id: 'm1', registeredAt: 5 }], undefined, false],
    ['listed, same registration', [{ id: 'm1', registeredAt: 5 }], '5', false],
    ['listed again after a restart under the same id', [{ id: 'm1', registeredAt: 9 }], '5', true],
    ['not listed', [{ id: 'm2', registeredAt: 5 }], '5', true],
    ['no container at all', [], undefined, true],
  ] as const)('mixerLost: %s', (_what, listed, seen, want) => {
    expect(mixerLost(mixer('m1', 4000), listed, seen)).toBe(want);
  });

  const target = (over: Partial<DialogTarget> = {}): DialogTarget => ({
    dialogKey: 'c1\nft\nlt',
    callId: 'c1',
    localTag: 'lt',
    remoteUri: 'sipp <sip:sipp@127.0.0.1:5080>;tag=ft',
    localUri: '<sip:conf-7@127.0.0.1:5060>',
    remoteTarget: 'sip:sipp@127.0.0.1:5080',
    routeSet: [],
    offer: Buffer.from('v=0\r\nm=audio 6000 RTP/AVP 8 0\r\nm=video 6002 RTP/AVP 96\r\n'),
    local: 0,
    transport: 'udp',
    peer: { address: '127.0.0.1', port: 5080 },
    ...over,
  });

  it('the dialog target of an INVITE: Contact URI, Record-Route in order, tags, offer', () => {
    const raw = invite({ callId: 'c9', fromTag: 'ft9' })
      .toString()
      .replace('Max-Forwards: 70', 'Record-Route: <sip:p1;lr>, <sip:p2;lr>\r\nRecord-Route: <sip:p3;lr>');
    const r = parseSipMessage(Buffer.from(raw));
    if (!r.ok || r.message.kind !== 'request') throw new Error('fixture');
    const t = dialogTargetOfInvite(
      r.message,
      { transport: 'udp', address: '1.2.3.4', port: 9, local: 1 },
      'me',
      'k',
    );
    expect(t).toMatchObject({
      callId: 'c9',
      localTag: 'me',
      remoteUri: 'sipp <sip:sipp@127.0.0.1:5080>;tag=ft9',
      localUri: '<sip:conf-7@127.0.0.1:5060>',
      remoteTarget: 'sip:sipp@127.0.0.1:5080',
      routeSet: ['<sip:p1;lr>', '<sip:p2;lr>', '<sip:p3;lr>'],
      local: 1,
    });
    expect(t.offer.toString()).toContain('m=audio 6000');
  });

  it('builds the re-INVITE: remote target, Route set, From with our tag, their From as To, CSeq, SDP', () => {
    const body = sdpOffer(target().offer, mixer('m2', 41000), 3);
    const req = buildReinvite(target({ routeSet: ['<sip:p1;lr>'] }), {
      cseq: 2,
      branch: 'z9hG4bK-x',
      via: { address: '127.0.0.9', port: 5060 },
      contact: 'sip:conf-7@127.0.0.9:5060',
      body,
    });
    const parsed = parseSipMessage(serializeSipMessage(req));
    if (!parsed.ok || parsed.message.kind !== 'request') throw new Error('does not parse');
    const m = parsed.message;
    expect(m.uri).toBe('sip:sipp@127.0.0.1:5080');
    const h = (n: string) => headerValue(m.headers, n);
    expect(h('via')).toBe('SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bK-x;rport');
    expect(h('route')).toBe('<sip:p1;lr>');
    expect(h('from')).toBe('<sip:conf-7@127.0.0.9:5060>'.replace('127.0.0.9', '127.0.0.1') + ';tag=lt');
    expect(h('to')).toBe('sipp <sip:sipp@127.0.0.1:5080>;tag=ft');
    expect(h('cseq')).toBe('2 INVITE');
    expect(h('call-id')).toBe('c1');
    expect(m.body.toString()).toBe(
      'v=0\r\no=switchyard 1 3 IN IP4 127.0.0.77\r\ns=switchyard conference\r\nc=IN IP4 127.0.0.77\r\nt=0 0\r\n' +
        'm=audio 41000 RTP/AVP 8\r\nm=video 41000 RTP/AVP 96\r\n',
    );
  });

  it('with a POP: the owner token in the top Via (C14) and the Contact (C9); the ACK keeps the Via token', () => {
    const req = buildReinvite(target(), {
      cseq: 2,
      branch: 'z9hG4bK-x',
      via: { address: '127.0.0.9', port: 5060 },
      contact: 'sip:conf-7@127.0.0.9:5060;sy-owner=h1.1.mac',
      body: Buffer.alloc(0),
      ownerToken: 'h1.1.mac',
    });
    expect(headerValue(req.headers, 'via')).toBe(
      'SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bK-x;rport;sy-owner=h1.1.mac',
    );
    expect(headerValue(req.headers, 'contact')).toBe('<sip:conf-7@127.0.0.9:5060;sy-owner=h1.1.mac>');
    const res: SipResponse = {
      kind: 'response',
      status: 200,
      reason: 'OK',
      headers: req.headers,
      body: Buffer.alloc(0),
    };
    expect(headerValue(buildAck(req, res, 'z9hG4bK-y').headers, 'via')).toBe(
      'SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bK-y;rport;sy-owner=h1.1.mac',
    );
  });

  it('the dialog target of a mirrored state: its media lines, current remote target, local CSeq; none over TCP or without media lines', () => {
    const state: DialogState = {
      callId: 'c1',
      localTag: 'lt',
      remoteTag: 'ft',
      remoteUri: 'sipp <sip:sipp@127.0.0.1:5080>;tag=ft',
      localUri: '<sip:conf-7@127.0.0.1:5060>',
      remoteTarget: 'sip:sipp@127.0.0.1:5099',
      routeSet: ['<sip:p1;lr>'],
      remoteCSeq: 3,
      localCSeq: 2,
      conferenceId: 'conf-7',
      peer: { transport: 'udp', address: '127.0.0.1', port: 5080, local: 1 },
      confirmed: true,
      offerMedia: 'm=audio 6000 RTP/AVP 8 0\r\nm=video 6002 RTP/AVP 96',
    };
    const t = dialogTargetOfState(JSON.parse(JSON.stringify(state)) as DialogState)!;
    expect(t).toMatchObject({
      dialogKey: 'c1\nft\nlt',
      remoteTarget: 'sip:sipp@127.0.0.1:5099',
      routeSet: ['<sip:p1;lr>'],
      local: 1,
      localCSeq: 2,
      transport: 'udp',
    });
    expect(sdpOffer(t.offer, mixer('m', 41000), 2).toString()).toContain(
      'm=audio 41000 RTP/AVP 8\r\nm=video 41000 RTP/AVP 96\r\n',
    );
    expect(dialogTargetOfState({ ...state, offerMedia: undefined })).toBeUndefined();
    expect(dialogTargetOfState({ ...state, peer: { ...state.peer, transport: 'tcp' } })).toBeUndefined();
  });

  it('ACKs a 2xx in a new transaction and a non-2xx in the INVITE transaction, To from the response', () => {
    const req = buildReinvite(target(), {
      cseq: 4,
      branch: 'z9hG4bK-inv',
      via: { address: '127.0.0.9', port: 5060 },
      contact: 'sip:conf-7@127.0.0.9:5060',
      body: Buffer.alloc(0),
    });
    const res = (status: number): SipResponse => ({
      kind: 'response',
      status,
      reason: 'x',
      headers: [{ name: 'to', value: 'sipp <sip:sipp@127.0.0.1:5080>;tag=ft' }],
      body: Buffer.alloc(0),
    });
    const ok = buildAck(req, res(200), 'z9hG4bK-ack');
    expect(headerValue(ok.headers, 'via')).toContain('branch=z9hG4bK-ack');
    expect(headerValue(ok.headers, 'cseq')).toBe('4 ACK');
    expect(ok.uri).toBe(req.uri);
    const no = buildAck(req, res(488));
    expect(headerValue(no.headers, 'via')).toContain('branch=z9hG4bK-inv');
    expect(headerValue(no.headers, 'to')).toBe('sipp <sip:sipp@127.0.0.1:5080>;tag=ft');
  });
});

/** A real HTTP server in the balancer's place: a container list and sticky allocations the test changes. */
async function balancerStandIn() {
  const state = {
    containers: [{ id: 'mixer-a', registeredAt: 1 }] as { id: string; registeredAt: number }[],
    next: { containerId: 'mixer-a', port: 40002 } as { containerId: string; port: number } | null,
    allocations: 0,
    lists: 0,
  };
  const srv = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.method === 'GET' && req.url === '/v1/services') {
        state.lists++;
        return void res.end(
          JSON.stringify({ services: [{ service: 'mixer', containers: state.containers }] }),
        );
      }
      if (req.method === 'POST' && req.url === '/v1/allocations') {
        state.allocations++;
        if (!state.next)
          return void res
            .writeHead(503, { 'retry-after': '1' })
            .end(JSON.stringify({ code: 'BAL_ERR_NO_CONTAINER' }));
        const { containerId, port } = state.next;
        return void res.end(
          JSON.stringify({ containerId, allocation: { rtp: { address: '127.0.0.77', port } } }),
        );
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  servers.push(srv);
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, state };
}
const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

describe('MediaMover with a SipUas and a balancer stand-in', () => {
  const T1 = 500;

  async function setup(o: { ownerToken?: string } = {}) {
    const b = await balancerStandIn();
    const clock = new ManualClock();
    const config = {
      balancerUrl: b.url,
      balancerToken: '',
      mediaService: 'mixer',
      mediaTimeoutMs: 2000,
      mediaCheckMs: 1000,
    };
    const media = new BalancerMediaSource({}, config);
    const out: { req?: SipRequest; res?: SipResponse; to: { address: string; port: number } }[] = [];
    const closed: string[] = [];
    /** Each dialog's state as the worker reports it (the primary mirrors it; an heir adopts it). */
    const states = new Map<string, DialogState>();
    let mover: MediaMover | undefined = undefined;
    const record = (bytes: Buffer, to: { address: string; port: number }) => {
      const r = parseSipMessage(bytes);
      if (!r.ok) throw new Error('sent something that does not parse');
      out.push(r.message.kind === 'request' ? { req: r.message, to } : { res: r.message, to });
    };
    const uas = new SipUas({
      clock,
      send: record,
      localAddress: () => ({ address: '127.0.0.9', port: 5060 }),
      media,
      onResponse: (res) => mover!.onResponse(res),
      events: {
        dialogOpened: (d) => void states.set(d.dialogKey, d.state),
        dialogUpdated: (d) => void states.set(d.dialogKey, d.state),
        dialogClosed: (d, why) => closed.push(`${d.callId}:${why}`),
      },
    });
    mover = new MediaMover(
      {
        clock,
        media,
        conferences: () => uas.conferenceIds(),
        dialogs: (c) => uas.conferenceDialogs(c),
        endDialog: (k) => uas.endDialog(k),
        localAddress: () => ({ address: '127.0.0.9', port: 5060 }),
        ownerToken: () => o.ownerToken,
        send: record,
      },
      {
        balancerUrl: b.url,
        balancerToken: '',
        mediaService: 'mixer',
        checkMs: 1000,
        timeoutMs: 2000,
        t1Ms: T1,
      },
    );
    const peer: Peer = { transport: 'udp', address: '127.0.0.1', port: 5080, local: 0 };
    const feed = (raw: Buffer) => {
      const r = parseSipMessage(raw);
      if (!r.ok) throw new Error('fixture does not parse');
      if (r.message.kind === 'request') uas.onRequest(r.message, peer, conferenceOfUri(r.message.uri));
      else uas.onResponse(r.message, peer);
    };
    const until = async (what: string, ok: () => boolean) => {
      for (let i = 0; i < 300 && !ok(); i++) await new Promise((r) => setTimeout(r, 5));
      if (!ok()) throw new Error(`timed out waiting for ${what}`);
    };
    /** Two participants of conf-7, each confirmed by its ACK. */
    const join = async (n: number) => {
      for (let i = 1; i <= n; i++) {
        feed(invite({ callId: `c${i}`, fromTag: `f${i}`, branch: `z9hG4bK-i${i}` }));
        await until(`200 for c${i}`, () => out.some((m) => m.res?.status === 200 && cid(m.res) === `c${i}`));
        const ok = out.find((m) => m.res?.status === 200 && cid(m.res) === `c${i}`)!.res!;
        const toTag = /tag=([^;]+)/.exec(headerValue(ok.headers, 'to')!)![1]!;
        feed(invite({ method: 'ACK', callId: `c${i}`, fromTag: `f${i}`, toTag, branch: `z9hG4bK-a${i}` }));
      }
    };
    const reinvites = () => out.filter((m) => m.req?.method === 'INVITE').map((m) => m.req!);
    /** The participant's answer to a re-INVITE, as SIPp sends it. */
    const answer = (req: SipRequest, status: number) => {
      const h = (n: string) => headerValue(req.headers, n)!;
      const res: SipResponse = {
        kind: 'response',
        status,
        reason: 'x',
        headers: [
          { name: 'via', value: h('via') },
          { name: 'from', value: h('from') },
          { name: 'to', value: h('to') },
          { name: 'call-id', value: h('call-id') },
          { name: 'cseq', value: h('cseq') },
        ],
        body: Buffer.alloc(0),
      };
      feed(serializeSipMessage(res));
    };
    return { b, clock, uas, mover, out, closed, states, join, reinvites, answer, until };
  }
  const cid = (m: SipResponse | SipRequest) => headerValue(m.headers, 'call-id');

  it('a vanished mixer: a new allocation, one re-INVITE per participant with the new address, ACKed on 200', async () => {
    const t = await setup();
    await t.join(2);
    expect(t.b.state.allocations).toBe(1);
    // mixer alive: checks read the list and move nothing
    await t.mover.check();
    await t.mover.check();
    expect(t.reinvites()).toHaveLength(0);
    expect(t.b.state.lists).toBe(2);
    // kill -9: the balancer no longer lists it, and allocates the key elsewhere
    t.b.state.containers = [{ id: 'mixer-b', registeredAt: 2 }];
    t.b.state.next = { containerId: 'mixer-b', port: 40100 };
    await t.mover.check();
    expect(t.b.state.allocations).toBe(2);
    const sent = t.reinvites();
    expect(sent.map(cid).sort()).toEqual(['c1', 'c2']);
    for (const r of sent) {
      expect(r.uri).toBe('sip:sipp@127.0.0.1:5080');
      expect(headerValue(r.headers, 'cseq')).toBe('1 INVITE');
      expect(r.body.toString()).toContain('c=IN IP4 127.0.0.77\r\n');
      expect(r.body.toString()).toContain('m=audio 40100 RTP/AVP 0\r\n');
    }
    for (const r of sent) t.answer(r, 200);
    const acks = t.out.filter((m) => m.req?.method === 'ACK').map((m) => m.req!);
    expect(acks.map((a) => headerValue(a.headers, 'cseq'))).toEqual(['1 ACK', '1 ACK']);
    expect(t.mover.counters).toMatchObject({
      lost: 1,
      moved: 1,
      reinvites: 2,
      reinvitesOk: 2,
      reinvitesFailed: 0,
    });
    expect(t.uas.counters.strayResponses).toBe(0);
    // a retransmitted 200 gets the same ACK again; nothing else
    t.answer(sent[0]!, 200);
    expect(t.out.filter((m) => m.req?.method === 'ACK')).toHaveLength(3);
    // new participants get the new mixer; the next re-INVITE of a dialog has the next CSeq
    await t.join(3);
    const third = t.out.filter((m) => m.res?.status === 200 && cid(m.res) === 'c3').at(-1)!.res!;
    expect(third.body.toString()).toContain('m=audio 40100');
    await t.mover.check(); // notes mixer-b's registration
    expect(t.reinvites()).toHaveLength(2);
    t.b.state.containers = [{ id: 'mixer-b', registeredAt: 7 }]; // same id, restarted: its allocations are gone
    t.b.state.next = { containerId: 'mixer-b', port: 40200 };
    await t.mover.check();
    const again = t.reinvites().slice(2);
    expect(again.map(cid).sort()).toEqual(['c1', 'c2', 'c3']);
    expect(again.find((r) => cid(r) === 'c1')!.body.toString()).toContain('m=audio 40200');
    expect(headerValue(again.find((r) => cid(r) === 'c1')!.headers, 'cseq')).toBe('2 INVITE');
    expect(t.closed).toEqual([]);
  });

  it('with a POP: the re-INVITE carries the owner token in its top Via and Contact', async () => {
    const t = await setup({ ownerToken: 'h1.1.mac' });
    await t.join(1);
    t.b.state.containers = [];
    t.b.state.next = { containerId: 'mixer-b', port: 40100 };
    await t.mover.check();
    const [r] = t.reinvites();
    expect(headerValue(r!.headers, 'via')).toMatch(/;sy-owner=h1\.1\.mac$/);
    expect(headerValue(r!.headers, 'contact')).toBe('<sip:conf-7@127.0.0.9:5060;sy-owner=h1.1.mac>');
    t.answer(r!, 200);
    expect(t.mover.counters.reinvitesOk).toBe(1);
  });

  it('dialogs adopted from a crashed worker (their mirrored states) are re-INVITEd by the heir when the mixer dies', async () => {
    const dead = await setup();
    await dead.join(2);
    // what the primary mirrored, as it travels (JSON over IPC and the seqpacket socket)
    const mirrored = JSON.parse(JSON.stringify([...dead.states.values()])) as DialogState[];
    expect(mirrored.every((s) => s.offerMedia === 'm=audio 6000 RTP/AVP 0 8')).toBe(true);
    const heir = await setup();
    heir.uas.adopt(mirrored);
    // the heir's balancer lists the adopted mixer: nothing to do
    await heir.mover.check();
    expect(heir.reinvites()).toHaveLength(0);
    heir.b.state.containers = [{ id: 'mixer-b', registeredAt: 2 }];
    heir.b.state.next = { containerId: 'mixer-b', port: 40300 };
    await heir.mover.check();
    const sent = heir.reinvites();
    expect(sent.map(cid).sort()).toEqual(['c1', 'c2']);
    for (const r of sent) {
      expect(r.uri).toBe('sip:sipp@127.0.0.1:5080');
      expect(r.body.toString()).toContain('m=audio 40300 RTP/AVP 0\r\n');
      heir.answer(r, 200);
    }
    expect(heir.out.filter((m) => m.req?.method === 'ACK')).toHaveLength(2);
    expect(heir.mover.counters).toMatchObject({ reinvites: 2, reinvitesOk: 2, reinvitesFailed: 0 });
    // a state mirrored by an older worker (no media lines) is adopted but not re-INVITEd
    const old = await setup();
    old.uas.adopt(mirrored.map(({ offerMedia: _, ...s }) => s));
    old.b.state.containers = [];
    old.b.state.next = { containerId: 'mixer-b', port: 40300 };
    await old.mover.check();
    expect(old.uas.dialogCount).toBe(2);
    expect(old.reinvites()).toHaveLength(0);
  });

  it('retransmits over UDP until answered; no answer by Timer B, or a 481, ends the dialog; a 488 keeps it', async () => {
    const t = await setup();
    await t.join(3);
    t.b.state.containers = [];
    t.b.state.next = { containerId: 'mixer-b', port: 40100 };
    await t.mover.check();
    expect(t.reinvites()).toHaveLength(3);
    const [r1, r2] = t.reinvites().sort((a, b) => cid(a)!.localeCompare(cid(b)!));
    t.answer(r1!, 481);
    t.answer(r2!, 488);
    // c3 never answers: Timer A retransmits at T1, 2T1, 4T1 …; Timer B gives up at 64*T1
    t.clock.advance(T1);
    expect(t.reinvites().filter((r) => cid(r) === 'c3')).toHaveLength(2);
    t.clock.advance(2 * T1);
    expect(t.reinvites().filter((r) => cid(r) === 'c3')).toHaveLength(3);
    t.clock.advance(64 * T1);
    expect(t.closed.sort()).toEqual(['c1:gone', 'c3:gone']);
    expect(t.uas.dialogCount).toBe(1);
    // every non-2xx is ACKed in its own transaction
    const acks = t.out.filter((m) => m.req?.method === 'ACK').map((m) => m.req!);
    expect(acks.map(cid).sort()).toEqual(['c1', 'c2']);
    expect(t.mover.counters).toMatchObject({
      reinvites: 3,
      reinvitesOk: 0,
      reinvitesFailed: 3,
      dialogsEnded: 2,
    });
  });

  it('no mixer to move to: nothing sent, tried again at the next check; a balancer that does not answer moves nothing', async () => {
    const t = await setup();
    await t.join(1);
    t.b.state.containers = [];
    t.b.state.next = null;
    await t.mover.check();
    expect(t.mover.counters).toMatchObject({ lost: 1, allocationFailures: 1, moved: 0 });
    expect(t.reinvites()).toHaveLength(0);
    // a mixer is back: the next check moves the conference
    t.b.state.next = { containerId: 'mixer-c', port: 40300 };
    await t.mover.check();
    expect(t.reinvites()).toHaveLength(1);
    expect(t.reinvites()[0]!.body.toString()).toContain('m=audio 40300');
    // the balancer down: the check fails, counted, and nothing moves
    t.b.state.containers = [];
    servers[0]!.closeAllConnections();
    await new Promise((r) => servers.splice(0)[0]!.close(r));
    await t.mover.check();
    expect(t.mover.counters.checkFailures).toBe(1);
    expect(t.reinvites()).toHaveLength(1);
  });
});
