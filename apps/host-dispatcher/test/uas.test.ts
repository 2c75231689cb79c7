import { describe, expect, it } from 'vitest';
import { conferenceOfUri } from '@switchyard/affinity';
import { ManualClock } from '@switchyard/core';
import {
  SipUas,
  parseSipMessage,
  tagOf,
  type Peer,
  type SipRequest,
  type UasInit,
  type SipResponse,
} from '../src/index.js';
import { invite } from './sip-fixtures.js';

const peer: Peer = { transport: 'udp', address: '127.0.0.1', port: 5080, local: 0 };

function setup(init: UasInit = {}) {
  const clock = new ManualClock();
  const sent: SipResponse[] = [];
  const events: string[] = [];
  const uas = new SipUas(
    {
      clock,
      send: (bytes) => {
        const r = parseSipMessage(bytes);
        if (!r.ok || r.message.kind !== 'response') throw new Error('UAS sent something unparseable');
        sent.push(r.message);
      },
      localAddress: () => ({ address: '127.0.0.1', port: 5060 }),
      events: {
        dialogOpened: (d) => events.push(`open ${d.conferenceId} ${d.callId}`),
        dialogClosed: (d, why) => events.push(`close ${d.conferenceId} ${d.callId} ${why}`),
      },
    },
    init,
  );
  const feed = (raw: Buffer, from: Peer = peer) => {
    const r = parseSipMessage(raw, { stream: from.transport === 'tcp' });
    if (!r.ok || r.message.kind !== 'request') throw new Error('fixture does not parse');
    // the primary's routing decision, by the one URI grammar
    uas.onRequest(r.message as SipRequest, from, conferenceOfUri(r.message.uri));
  };
  const statuses = () => sent.map((m) => m.status);
  return { clock, sent, events, uas, feed, statuses };
}

const toTagOf = (m: SipResponse) => tagOf(m.headers.find((h) => h.name === 'to')?.value);

describe('SipUas', () => {
  it('answers INVITE with 100, 180, 200 + SDP and a To tag; ACK stops 2xx retransmission; BYE closes', () => {
    const t = setup();
    t.feed(invite());
    expect(t.statuses()).toEqual([100, 180, 200]);
    const ok = t.sent[2]!;
    expect(ok.body.toString()).toMatch(/^v=0\r\n[\s\S]*m=audio \d+ RTP\/AVP 0\r\n$/);
    const toTag = toTagOf(ok)!;
    expect(toTag).toMatch(/^[0-9a-f]{16}$/);
    expect(t.events).toEqual(['open conf-7 call-1@127.0.0.1']);
    expect(t.uas.conferenceViews()).toEqual([
      { id: 'conf-7', participants: [expect.stringContaining('call-1')] },
    ]);
    // no ACK yet: 200 is retransmitted at T1
    t.clock.advance(500);
    expect(t.statuses()).toEqual([100, 180, 200, 200]);
    t.feed(invite({ method: 'ACK', toTag, branch: 'z9hG4bK-ack', body: '' }));
    t.clock.advance(10_000);
    expect(t.statuses()).toEqual([100, 180, 200, 200]);
    t.feed(invite({ method: 'BYE', toTag, branch: 'z9hG4bK-bye', cseq: 2 }));
    expect(t.statuses().at(-1)).toBe(200);
    expect(t.events.at(-1)).toBe('close conf-7 call-1@127.0.0.1 bye');
    expect(t.uas.dialogCount).toBe(0);
    expect(t.uas.conferenceViews()).toEqual([]);
  });

  it('absorbs retransmitted requests with the last response, and forgets transactions after 64*T1', () => {
    const t = setup();
    t.feed(invite());
    t.feed(invite());
    expect(t.statuses()).toEqual([100, 180, 200, 200]);
    expect(t.uas.counters.retransmissionsAbsorbed).toBe(1);
    expect(t.events).toHaveLength(1);
    const toTag = toTagOf(t.sent[2]!)!;
    t.feed(invite({ method: 'ACK', toTag, branch: 'z9hG4bK-ack', body: '' }));
    t.feed(invite({ method: 'BYE', toTag, branch: 'z9hG4bK-bye', cseq: 2 }));
    t.feed(invite({ method: 'BYE', toTag, branch: 'z9hG4bK-bye', cseq: 2 }));
    expect(t.statuses().slice(-2)).toEqual([200, 200]);
    expect(t.uas.transactionCount).toBeGreaterThan(0);
    t.clock.advance(32_000);
    expect(t.uas.transactionCount).toBe(0);
  });

  it('CANCEL of a ringing INVITE: 200 to CANCEL, 487 to INVITE, 487 retransmitted until ACK', () => {
    const t = setup({ answerDelayMs: 2000 });
    t.feed(invite());
    expect(t.statuses()).toEqual([100, 180]);
    t.feed(invite({ method: 'CANCEL', body: '' }));
    expect(t.statuses()).toEqual([100, 180, 200, 487]);
    expect(t.sent[2]!.headers.find((h) => h.name === 'cseq')?.value).toBe('1 CANCEL');
    t.clock.advance(500);
    expect(t.statuses().at(-1)).toBe(487);
    expect(t.statuses()).toHaveLength(5);
    t.feed(invite({ method: 'ACK', toTag: toTagOf(t.sent[3]!), body: '' }));
    t.clock.advance(10_000);
    expect(t.statuses()).toHaveLength(5);
    expect(t.events).toEqual([]);
    t.feed(invite({ method: 'CANCEL', branch: 'z9hG4bK-none', body: '' }));
    expect(t.statuses().at(-1)).toBe(481);
  });

  it('481 for in-dialog requests to unknown dialogs; OPTIONS and REGISTER 200; PUBLISH 405', () => {
    const t = setup();
    t.feed(invite({ method: 'BYE', toTag: 'nope', body: '' }));
    t.feed(invite({ method: 'OPTIONS', branch: 'z9hG4bK-o', body: '' }));
    t.feed(invite({ method: 'REGISTER', branch: 'z9hG4bK-r', body: '' }));
    t.feed(invite({ method: 'PUBLISH', branch: 'z9hG4bK-p', body: '' }));
    t.feed(invite({ method: 'ACK', toTag: 'nope', branch: 'z9hG4bK-a', body: '' }));
    // PUBLISH is a SIP method this UAS knows and does not allow (RFC 3261 §8.2.1)
    expect(t.statuses()).toEqual([481, 200, 200, 405]);
    expect(t.uas.counters.noDialog481).toBe(1);
  });

  it('can answer without 180 (ringing: false)', () => {
    const t = setup({ ringing: false });
    t.feed(invite());
    expect(t.statuses()).toEqual([100, 200]);
  });

  it('gives up a dialog whose 2xx is never ACKed (64*T1), and refuses new conferences when draining', () => {
    const t = setup();
    t.feed(invite());
    t.clock.advance(40_000);
    expect(t.events).toEqual(['open conf-7 call-1@127.0.0.1', 'close conf-7 call-1@127.0.0.1 ack-timeout']);
    t.uas.drain();
    t.feed(invite({ callId: 'c2', conf: 'conf-new', branch: 'z9hG4bK-2' }));
    expect(t.statuses().at(-1)).toBe(503);
  });

  describe('dialogs never leak', () => {
    const tcp: Peer = { transport: 'tcp', address: '127.0.0.9', port: 40000, local: 0, conn: 1 };

    it('ends a TCP dialog whose 2xx is never ACKed at 64*T1, without retransmitting on TCP', () => {
      const t = setup();
      t.feed(invite({ callId: 'tcp-1' }), tcp);
      expect(t.statuses()).toEqual([100, 180, 200]);
      t.clock.advance(64 * 500 - 1);
      expect(t.uas.dialogCount).toBe(1);
      t.clock.advance(1);
      expect(t.uas.dialogCount).toBe(0);
      expect(t.events.at(-1)).toBe('close conf-7 tcp-1 ack-timeout');
      // reliable transport: the 2xx was sent once
      expect(t.statuses()).toEqual([100, 180, 200]);
    });

    it('ends a confirmed dialog nobody talks in after dialogIdleMs; a request in it re-arms the deadline', () => {
      const t = setup({ dialogIdleMs: 60_000 });
      t.feed(invite({ callId: 'idle-1' }));
      const toTag = toTagOf(t.sent[2]!)!;
      t.feed(invite({ callId: 'idle-1', method: 'ACK', toTag, branch: 'z9hG4bK-ack', body: '' }));
      t.clock.advance(50_000);
      t.feed(invite({ callId: 'idle-1', method: 'OPTIONS', toTag, branch: 'z9hG4bK-o', cseq: 2, body: '' }));
      t.clock.advance(59_999);
      expect(t.uas.dialogCount).toBe(1);
      t.clock.advance(1);
      expect(t.uas.dialogCount).toBe(0);
      expect(t.events.at(-1)).toBe('close conf-7 idle-1 idle-timeout');
    });

    it('refuses new dialogs past the per-worker cap with 503 and Retry-After, and takes them again after a BYE', () => {
      const t = setup({ maxDialogs: 2 });
      t.feed(invite({ callId: 'cap-1', branch: 'z9hG4bK-1' }));
      t.feed(invite({ callId: 'cap-2', branch: 'z9hG4bK-2' }), { ...peer, address: '127.0.0.2' });
      t.feed(invite({ callId: 'cap-3', branch: 'z9hG4bK-3' }), { ...peer, address: '127.0.0.3' });
      const refused = t.sent.at(-1)!;
      expect(refused.status).toBe(503);
      expect(refused.headers.find((h) => h.name === 'retry-after')?.value).toBe('5');
      expect(t.uas.counters.overCap503).toBe(1);
      const toTag = toTagOf(t.sent[2]!)!;
      t.feed(invite({ callId: 'cap-1', method: 'BYE', toTag, branch: 'z9hG4bK-b', cseq: 2, body: '' }));
      t.feed(invite({ callId: 'cap-4', branch: 'z9hG4bK-4' }), { ...peer, address: '127.0.0.3' });
      expect(t.statuses().at(-1)).toBe(200);
      expect(t.uas.dialogCount).toBe(2);
    });

    it('refuses new dialogs past the per-source cap with 503; other sources still get through', () => {
      const t = setup({ maxDialogsPerSource: 2 });
      t.feed(invite({ callId: 's-1', branch: 'z9hG4bK-1' }));
      t.feed(invite({ callId: 's-2', branch: 'z9hG4bK-2' }), { ...peer, port: 5081 });
      t.feed(invite({ callId: 's-3', branch: 'z9hG4bK-3' }), { ...peer, port: 5082 });
      expect(t.statuses().at(-1)).toBe(503);
      t.feed(invite({ callId: 's-4', branch: 'z9hG4bK-4' }), { ...peer, address: '127.0.0.4' });
      expect(t.statuses().at(-1)).toBe(200);
      // the dialogs of the capped source end by their timers, and the source is welcome again
      t.clock.advance(64 * 500);
      expect(t.uas.dialogCount).toBe(0);
      t.feed(invite({ callId: 's-5', branch: 'z9hG4bK-5' }));
      expect(t.statuses().at(-1)).toBe(200);
    });
  });
});

describe('SipUas: owner token in Contact (C9)', () => {
  const contactOf = (m: SipResponse) => m.headers.find((h) => h.name === 'contact')?.value;

  it('without a POP the Contact is the conference on the service address', () => {
    const t = setup();
    t.feed(invite());
    expect(contactOf(t.sent[2]!)).toBe('<sip:conf-7@127.0.0.1:5060>');
  });

  it('with a token the 200 and the answer to a re-INVITE carry it as a URI parameter; the conference stays the user part', () => {
    const t = setup();
    t.uas.setOwnerToken('h2.1.abcdefghijklmnopqrstuv');
    t.feed(invite());
    const ok = t.sent[2]!;
    const contact = contactOf(ok)!;
    expect(contact).toBe('<sip:conf-7@127.0.0.1:5060;sy-owner=h2.1.abcdefghijklmnopqrstuv>');
    expect(conferenceOfUri(contact.slice(1, -1))).toBe('conf-7');
    const toTag = toTagOf(ok)!;
    t.feed(invite({ method: 'ACK', toTag, branch: 'z9hG4bK-ack', body: '' }));
    t.feed(invite({ toTag, branch: 'z9hG4bK-reinvite', cseq: 2 }));
    expect(t.statuses().at(-1)).toBe(200);
    expect(contactOf(t.sent.at(-1)!)).toContain(';sy-owner=h2.1.abcdefghijklmnopqrstuv>');
    t.uas.setOwnerToken(undefined);
    t.feed(invite({ callId: 'call-2@127.0.0.1', branch: 'z9hG4bK-2' }));
    expect(contactOf(t.sent.at(-1)!)).toBe('<sip:conf-7@127.0.0.1:5060>');
  });
});
