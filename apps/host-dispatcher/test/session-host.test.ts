/**
 * The POP router's view, in process: a real Dispatcher (forked workers, real sockets) emits sessionOpened/Closed and
 * routes packets injected as if they had arrived encapsulated from another host; the worker answers the original
 * sender directly from the service socket.
 */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@switchyard/testing';
import { SeqpacketSocket } from 'node-unix-socket';
import {
  type Dispatcher,
  FRAME_FIXED,
  FRAME_HELLO,
  FRAME_INJECTED,
  FRAME_MAX_ADDR,
  FRAME_SESSION,
  POP_HELLO,
  parseSipMessage,
  tagOf,
  writeFrameHeader,
  type SessionEvent,
} from '../src/index.js';
import { invite } from './sip-fixtures.js';
import { oneWorkerDispatcher } from './one-worker-dispatcher.js';

describe('SessionHost interface of the Dispatcher', () => {
  let d: Dispatcher;
  beforeAll(async () => {
    d = oneWorkerDispatcher();
    await d.start();
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('emits session events and answers injected packets from the service address', async () => {
    const events: string[] = [];
    d.on('sessionOpened', (e: SessionEvent) => events.push(`open ${e.conferenceId} ${e.callId} ${e.worker}`));
    d.on('sessionClosed', (e: SessionEvent) =>
      events.push(`close ${e.conferenceId} ${e.callId} ${e.worker}`),
    );
    const peer = dgram.createSocket('udp4');
    await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()));
    const got: { status: number; fromPort: number; toTag: string | undefined }[] = [];
    peer.on('message', (m, rinfo) => {
      const r = parseSipMessage(m);
      if (r.ok && r.message.kind === 'response') {
        got.push({
          status: r.message.status,
          fromPort: rinfo.port,
          toTag: tagOf(r.message.headers.find((h) => h.name === 'to')?.value),
        });
      }
    });
    const from = { address: '127.0.0.1', port: peer.address().port };
    expect(d.injectEncapsulated(invite({ callId: 'enc-1', conf: 'conf-pop' }), from)).toBe(true);
    await waitFor('200 to the injected INVITE', () => got.some((g) => g.status === 200));
    const service = d.addresses[0]!.port;
    expect(got.every((g) => g.fromPort === service)).toBe(true);
    const toTag = got.find((g) => g.status === 200)!.toTag!;
    await waitFor('sessionOpened', () => events.length === 1);
    expect(events[0]).toBe('open conf-pop enc-1 w1');
    d.injectEncapsulated(
      invite({ callId: 'enc-1', method: 'ACK', toTag, branch: 'z9hG4bK-a', body: '' }),
      from,
    );
    d.injectEncapsulated(
      invite({ callId: 'enc-1', method: 'BYE', toTag, branch: 'z9hG4bK-b', cseq: 2, body: '' }),
      from,
    );
    await waitFor('sessionClosed', () => events.length === 2);
    expect(events[1]).toBe('close conf-pop enc-1 w1');
    expect(d.injectEncapsulated(Buffer.from('garbage'), from)).toBe(false);
    expect(await d.metrics.injected.get()).toMatchObject({ values: [{ value: 4 }] });
    peer.close();
  });

  it('names the conference by the one URI grammar; a Request-URI without a user part has none', async () => {
    const opened: SessionEvent[] = [];
    const onOpen = (e: SessionEvent) => opened.push(e);
    d.on('sessionOpened', onOpen);
    const peer = dgram.createSocket('udp4');
    await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()));
    const ok = new Set<string>();
    peer.on('message', (m) => {
      const r = parseSipMessage(m);
      if (r.ok && r.message.kind === 'response' && r.message.status === 200)
        ok.add(r.message.headers.find((h) => h.name === 'call-id')!.value);
    });
    const service = d.addresses[0]!;
    const cases = [
      ['g-1', 'sip:127.0.0.1:5060', undefined],
      ['g-2', 'sip:127.0.0.1:5060', undefined],
      ['g-3', 'sip:c:pw@h.example', 'c'],
      ['g-4', 'sip:c;user=phone@h.example', 'c;user=phone'],
    ] as const;
    for (const [callId, uri] of cases)
      peer.send(invite({ callId, uri, branch: `z9hG4bK-${callId}` }), service.port, service.host);
    await waitFor('200 to every INVITE', () => ok.size === cases.length);
    await waitFor('a session per INVITE', () => opened.length === cases.length);
    for (const [callId, , conf] of cases)
      expect(opened.find((e) => e.callId === callId)?.conferenceId, callId).toBe(conf);
    // the worker never invents a key: no 'default' conference, no affinity violation
    expect(await d.metrics.violations.get()).toMatchObject({ values: [] });
    d.off('sessionOpened', onOpen);
    peer.close();
  });

  it('serves a POP router over the seqpacket socket: injected frames in, session events out', async () => {
    const pop = new SeqpacketSocket();
    const frames: Buffer[] = [];
    pop.on('data', (b: Buffer) => frames.push(Buffer.from(b)));
    await new Promise<void>((r) => pop.connect(d.seqpacketPath, () => r()));
    pop.write(Buffer.concat([Buffer.from([FRAME_HELLO]), Buffer.from(POP_HELLO)]));
    const peer = dgram.createSocket('udp4');
    await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()));
    const statuses: number[] = [];
    peer.on('message', (m) => statuses.push(Number(m.toString('latin1', 8, 11))));
    // a branch of its own: the same branch as the first test's INVITE would be a retransmission of it
    const msg = invite({ callId: 'pop-1', conf: 'conf-pop2', branch: 'z9hG4bK-pop-1' });
    const frame = Buffer.alloc(FRAME_FIXED + FRAME_MAX_ADDR + msg.length);
    const off = writeFrameHeader(frame, FRAME_INJECTED, 0, '127.0.0.1', peer.address().port);
    msg.copy(frame, off);
    // the hello may still be in flight: send until the dispatcher answers
    await waitFor(
      '200 to the INVITE injected by the POP router',
      () => {
        if (!statuses.includes(200)) pop.write(frame, 0, off + msg.length);
        return statuses.includes(200);
      },
      { intervalMs: 100 },
    );
    // on hello the dispatcher first tells the router what it holds (`held`, for a restarted router to re-claim)
    expect(JSON.parse(frames[0]!.toString('utf8', 1))).toMatchObject({ event: 'held' });
    const event = await waitFor('a session frame', () =>
      frames.find((f) => f[0] === FRAME_SESSION && f.includes('sessionOpened')),
    );
    expect(JSON.parse(event.toString('utf8', 1))).toEqual({
      event: 'sessionOpened',
      callId: 'pop-1',
      conferenceId: 'conf-pop2',
      worker: 'w1',
    });
    peer.close();
    pop.end();
  });
});
