/**
 * The dialog mirror (issue 9 §6), pure parts: the dialog state a UAS keeps and reports, the primary's bounded copy,
 * the packets that carry it to an heir, and an heir UAS answering in-dialog requests of dialogs it adopted as if it
 * had answered their INVITE. Manual clock; the whole path with real processes is in dialog-handover.slow.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { conferenceOfUri } from '@switchyard/affinity';
import { ManualClock } from '@switchyard/core';
import {
  DialogMirror,
  FRAME_MIRROR,
  MirrorOutbox,
  SipUas,
  dialogStateKey,
  mirrorPackets,
  parseSipMessage,
  splitHeaderList,
  tagOf,
  type DialogInfo,
  type DialogState,
  type MirrorFrame,
  type Peer,
  type SipRequest,
  type SipResponse,
} from '../src/index.js';
import { invite } from './sip-fixtures.js';

const peer: Peer = { transport: 'udp', address: '127.0.0.1', port: 5080, local: 0 };

/** A UAS with a manual clock that records its responses and dialog reports. */
function uasUnderTest(clock = new ManualClock()) {
  const sent: SipResponse[] = [];
  const opened: DialogInfo[] = [];
  const updated: DialogState[] = [];
  const closed: string[] = [];
  const uas = new SipUas(
    {
      clock,
      send: (bytes) => {
        const r = parseSipMessage(bytes);
        if (r.ok && r.message.kind === 'response') sent.push(r.message);
      },
      localAddress: () => ({ address: '127.0.0.1', port: 5060 }),
      events: {
        dialogOpened: (d) => opened.push(d),
        dialogClosed: (d, why) => closed.push(`${d.callId} ${why}`),
        dialogUpdated: (d) => updated.push(structuredClone(d.state)),
      },
    },
    {},
  );
  const feed = (raw: Buffer) => {
    const r = parseSipMessage(raw);
    if (!r.ok || r.message.kind !== 'request') throw new Error('fixture does not parse');
    uas.onRequest(r.message as SipRequest, peer, conferenceOfUri(r.message.uri));
  };
  const last = () => sent.at(-1)!;
  return { clock, uas, sent, opened, updated, closed, feed, last };
}

const header = (m: SipResponse, name: string) => m.headers.find((h) => h.name === name)?.value;

/** An INVITE as a proxy would relay it: two Record-Route entries (one header with a list, one more header). */
function invited(callId = 'call-1@127.0.0.1', conf = 'conf-7'): Buffer {
  return Buffer.from(
    invite({ callId, conf, branch: `z9hG4bK-${callId}` })
      .toString()
      .replace(
        'Max-Forwards: 70\r\n',
        'Max-Forwards: 70\r\nRecord-Route: <sip:p1.example;lr>, <sip:p2.example;lr>\r\nRecord-Route: <sip:p3.example;lr>\r\n',
      ),
  );
}

describe('dialog state in the UAS', () => {
  it('keeps ids, tags, route set, remote target, CSeqs and conference; ACK confirms; re-INVITE refreshes', () => {
    const a = uasUnderTest();
    a.feed(invited());
    const toTag = tagOf(header(a.last(), 'to'))!;
    expect(a.opened).toHaveLength(1);
    const s = a.opened[0]!.state;
    expect(s).toEqual({
      callId: 'call-1@127.0.0.1',
      localTag: toTag,
      remoteTag: 'ft1',
      remoteUri: 'sipp <sip:sipp@127.0.0.1:5080>;tag=ft1',
      localUri: '<sip:conf-7@127.0.0.1:5060>',
      remoteTarget: 'sip:sipp@127.0.0.1:5080',
      routeSet: ['<sip:p1.example;lr>', '<sip:p2.example;lr>', '<sip:p3.example;lr>'],
      inviteCSeq: 1,
      remoteCSeq: 1,
      localCSeq: 0,
      conferenceId: 'conf-7',
      peer: { transport: 'udp', address: '127.0.0.1', port: 5080, local: 0 },
      confirmed: false,
      // the 2xx itself, until the ACK (an heir sends it again)
      answer: expect.stringMatching(/^SIP\/2\.0 200 OK\r\n/),
      // the offer's media lines: an heir's re-INVITE after a mixer move is shaped from them
      offerMedia: 'm=audio 6000 RTP/AVP 0 8',
    });
    expect(dialogStateKey(s)).toBe(a.opened[0]!.dialogKey);
    a.feed(invite({ method: 'ACK', toTag, branch: 'z9hG4bK-ack', body: '' }));
    expect(a.updated.map((u) => u.confirmed)).toEqual([true]);
    expect(a.updated[0]!.answer).toBeUndefined();
    // a target refresh moves the remote target and the remote CSeq
    const reinvite = invite({ toTag, branch: 'z9hG4bK-re', cseq: 2 })
      .toString()
      .replace('Contact: <sip:sipp@127.0.0.1:5080>', 'Contact: <sip:sipp@127.0.0.9:5099;transport=udp>');
    a.feed(Buffer.from(reinvite));
    expect(a.last().status).toBe(200);
    expect(a.updated.at(-1)).toMatchObject({
      remoteCSeq: 2,
      remoteTarget: 'sip:sipp@127.0.0.9:5099;transport=udp',
    });
    // code that sends requests in the dialog records its CSeq (mirrored like any change)
    expect(a.uas.updateDialog(a.opened[0]!.dialogKey, { localCSeq: 7 })).toBe(true);
    expect(a.uas.dialogState(a.opened[0]!.dialogKey)?.localCSeq).toBe(7);
    expect(a.updated.at(-1)?.localCSeq).toBe(7);
  });

  it('splits header lists on commas outside quotes and angle brackets', () => {
    expect(splitHeaderList('"a, b" <sip:x;p=1>, <sip:y,z>;q=1 ,  sip:w')).toEqual([
      '"a, b" <sip:x;p=1>',
      '<sip:y,z>;q=1',
      'sip:w',
    ]);
  });
});

describe('an heir UAS adopts the dialogs of a crashed worker', () => {
  /** A dialog confirmed on worker A, its state as the primary mirrored it. */
  function confirmedOnA() {
    const a = uasUnderTest();
    a.feed(invited());
    const toTag = tagOf(header(a.last(), 'to'))!;
    a.feed(invite({ method: 'ACK', toTag, branch: 'z9hG4bK-ack', body: '' }));
    return { toTag, state: structuredClone(a.uas.dialogStates()[0]!) as DialogState };
  }

  it('answers BYE, re-INVITE and OPTIONS in the dialog with the same tags', () => {
    const { toTag, state } = confirmedOnA();
    const b = uasUnderTest();
    b.uas.adopt([state]);
    expect(b.opened.map((d) => [d.callId, d.conferenceId, d.adopted])).toEqual([
      ['call-1@127.0.0.1', 'conf-7', true],
    ]);
    expect(b.uas.conferenceViews()).toEqual([{ id: 'conf-7', participants: [dialogStateKey(state)] }]);
    b.feed(invite({ method: 'OPTIONS', toTag, branch: 'z9hG4bK-o', cseq: 2, body: '' }));
    expect([b.last().status, tagOf(header(b.last(), 'to'))]).toEqual([200, toTag]);
    b.feed(invite({ toTag, branch: 'z9hG4bK-re', cseq: 3 }));
    expect(b.last().status).toBe(200);
    expect(b.last().body.toString()).toContain('m=audio');
    b.feed(invite({ method: 'ACK', toTag, branch: 'z9hG4bK-ack2', cseq: 3, body: '' }));
    b.feed(invite({ method: 'BYE', toTag, branch: 'z9hG4bK-bye', cseq: 4 }));
    expect([b.last().status, tagOf(header(b.last(), 'to'))]).toEqual([200, toTag]);
    expect(b.closed).toEqual(['call-1@127.0.0.1 bye']);
    expect(b.uas.counters.noDialog481).toBe(0);
  });

  it('sends the 2xx of an unconfirmed adopted dialog at once and until its ACK (it may have died with the worker)', () => {
    const a = uasUnderTest();
    a.feed(invited());
    const s = structuredClone(a.uas.dialogStates()[0]!) as DialogState;
    const b = uasUnderTest();
    b.uas.adopt([s]);
    expect(b.sent.map((m) => [m.status, tagOf(header(m, 'to'))])).toEqual([[200, s.localTag]]);
    b.clock.advance(500);
    expect(b.sent).toHaveLength(2);
    // a retransmission of the INVITE (its transaction died with the worker) is the dialog's, not a new call
    b.feed(invited());
    expect(b.sent.map((m) => [m.status, tagOf(header(m, 'to'))])).toEqual([
      [200, s.localTag],
      [200, s.localTag],
      [200, s.localTag],
    ]);
    b.feed(invite({ method: 'ACK', toTag: s.localTag, branch: 'z9hG4bK-ack', body: '' }));
    b.feed(invited());
    b.clock.advance(10_000);
    expect(b.sent).toHaveLength(3);
    expect(b.opened).toHaveLength(1);
    expect(b.updated.map((u) => [u.confirmed, u.answer])).toEqual([[true, undefined]]);
  });

  it('an unconfirmed adopted dialog ends at 64*T1 without its ACK; with it, it lives on', () => {
    const a = uasUnderTest();
    a.feed(invited('c-unacked'));
    a.feed(invited('c-acked', 'conf-8'));
    const states = a.uas.dialogStates().map((s) => structuredClone(s) as DialogState);
    const b = uasUnderTest();
    b.uas.adopt(states);
    const acked = states.find((s) => s.callId === 'c-acked')!;
    b.feed(
      invite({
        method: 'ACK',
        callId: 'c-acked',
        conf: 'conf-8',
        toTag: acked.localTag,
        branch: 'z9hG4bK-a',
        body: '',
      }),
    );
    expect(b.updated.map((u) => [u.callId, u.confirmed])).toEqual([['c-acked', true]]);
    b.clock.advance(64 * 500);
    expect(b.closed).toEqual(['c-unacked ack-timeout']);
    expect(b.uas.dialogCount).toBe(1);
  });

  it('adopting a dialog held already updates it; forget ends one that ended on the dead worker', () => {
    const { state } = confirmedOnA();
    const b = uasUnderTest();
    b.uas.adopt([{ ...state, confirmed: false }]);
    b.uas.adopt([{ ...state, remoteCSeq: 5 }]);
    expect(b.opened).toHaveLength(1);
    expect(b.uas.dialogState(dialogStateKey(state))).toMatchObject({ remoteCSeq: 5, confirmed: true });
    b.uas.forget([dialogStateKey(state), 'no\nsuch\ndialog']);
    expect(b.closed).toEqual(['call-1@127.0.0.1 ended-elsewhere']);
  });
});

function state(callId: string, o: Partial<DialogState> = {}): DialogState {
  return {
    callId,
    localTag: `lt-${callId}`,
    remoteTag: `rt-${callId}`,
    remoteUri: '<sip:a@h>',
    localUri: '<sip:conf@h>',
    remoteTarget: 'sip:a@h',
    routeSet: [],
    remoteCSeq: 1,
    localCSeq: 0,
    conferenceId: 'conf',
    peer: { transport: 'udp', address: '127.0.0.1', port: 5080, local: 0 },
    confirmed: false,
    ...o,
  };
}

describe('DialogMirror (the primary’s copy)', () => {
  const init = { maxDialogsPerWorker: 2, maxStateBytes: 600, rememberHeirs: 2 };

  it.each([
    {
      what: 'open, update, close',
      steps: (m: DialogMirror) => {
        m.opened('w1', state('a'));
        m.updated('w1', [state('a', { confirmed: true }), state('never-opened')]);
        m.opened('w1', state('b'));
        m.closed('w1', dialogStateKey(state('b')));
      },
      orphans: [state('a', { confirmed: true })],
      counters: { mirrored: 2, updates: 1, overCap: 0, tooLarge: 0 },
    },
    {
      what: 'bounded per worker and per state',
      steps: (m: DialogMirror) => {
        m.opened('w1', state('a'));
        m.opened('w1', state('b'));
        m.opened('w1', state('c'));
        m.opened('w1', state('a', { remoteCSeq: 2 })); // known key: an update, not a new entry
        m.opened('w2', state('big', { routeSet: ['x'.repeat(600)] }));
      },
      orphans: [state('a', { remoteCSeq: 2 }), state('b')],
      counters: { mirrored: 2, updates: 0, overCap: 1, tooLarge: 1 },
    },
    {
      what: 'an update after the close does not bring the dialog back',
      steps: (m: DialogMirror) => {
        m.opened('w1', state('a'));
        m.closed('w1', dialogStateKey(state('a')));
        m.updated('w1', [state('a', { confirmed: true })]);
      },
      orphans: [],
      counters: { mirrored: 1, updates: 0, overCap: 0, tooLarge: 0 },
    },
  ])('$what', ({ steps, orphans, counters }) => {
    const m = new DialogMirror(init);
    steps(m);
    expect(m.orphans('w1')).toEqual(orphans);
    expect(m.count('w1')).toBe(0);
    expect(m.counters).toMatchObject(counters);
  });

  it('hands a crashed worker’s dialogs to its heir and passes late reports on, along a chain of crashes', () => {
    const m = new DialogMirror(init);
    m.opened('w1', state('a'));
    m.handOver('w1', 'w3', m.orphans('w1'));
    expect(m.count('w3')).toBe(1);
    // the last IPC messages of w1, delivered after its exit
    expect(m.lateOpened('w1', state('late'))).toBe('w3');
    expect(m.count('w3')).toBe(2);
    expect(m.lateClosed('w1', dialogStateKey(state('a')))).toBe('w3');
    expect(m.orphans('w3').map((s) => s.callId)).toEqual(['late']);
    // w3 crashed too: w1's late news goes to w3's heir
    m.handOver('w3', 'w4', []);
    expect(m.heirOf('w1')).toBe('w4');
    expect(m.lateOpened('never-crashed', state('x'))).toBeUndefined();
    // only the last `rememberHeirs` crashes are remembered
    m.handOver('w5', 'w6', []);
    expect(m.heirOf('w1')).toBeUndefined();
    expect(m.counters.handedOver).toBe(2);
  });
});

describe('mirrorPackets', () => {
  const decode = (p: Buffer): MirrorFrame => {
    expect(p[0]).toBe(FRAME_MIRROR);
    return JSON.parse(p.toString('utf8', 1)) as MirrorFrame;
  };

  it('packs as many states per packet as fit in the worker’s read buffer, in order, losing none', () => {
    const states = Array.from({ length: 40 }, (_, i) => state(`call-${i}`));
    const one = Buffer.byteLength(JSON.stringify(states[0]));
    const packets = mirrorPackets(FRAME_MIRROR, states, ['k1', 'k2'], one * 10);
    for (const p of packets) expect(p.length).toBeLessThanOrEqual(one * 10);
    const frames = packets.map(decode);
    expect(frames.flatMap((f) => f.put ?? [])).toEqual(states);
    expect(frames.flatMap((f) => f.del ?? [])).toEqual(['k1', 'k2']);
    expect(packets.length).toBeGreaterThanOrEqual(5);
    expect(mirrorPackets(FRAME_MIRROR, [], [], 100)).toEqual([]);
  });
});

describe('MirrorOutbox (the worker’s side)', () => {
  it('sends the latest state of each changed dialog once per turn, and nothing for a dialog that ended', () => {
    const sent: string[][] = [];
    let turn: (() => void) | undefined;
    const out = new MirrorOutbox(
      (put) => sent.push(put.map((s) => `${s.callId}:${s.remoteCSeq}`)),
      (fn) => (turn = fn),
    );
    out.changed('a', state('a'));
    out.changed('a', state('a', { remoteCSeq: 3 }));
    out.changed('b', state('b'));
    out.changed('c', state('c'));
    out.ended('c');
    turn!();
    expect(sent).toEqual([['a:3', 'b:1']]);
    turn = undefined;
    out.flush();
    expect(sent).toHaveLength(1);
  });
});
