/**
 * The POP router's view, in process: a real Dispatcher (forked workers, real sockets) emits sessionOpened/Closed and
 * routes packets injected as if they had arrived encapsulated from another host; the worker answers the original
 * sender directly from the service socket.
 */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@switchyard/testing';
import {
  Dispatcher,
  parseDispatcherConfig,
  tagOf,
  parseSipMessage,
  type SessionEvent,
} from '../src/index.js';
import { invite } from './sip-fixtures.js';

describe('SessionHost interface of the Dispatcher', () => {
  let d: Dispatcher;
  beforeAll(async () => {
    d = new Dispatcher(
      {},
      parseDispatcherConfig({
        listen: ['127.0.0.1:0'],
        minWorkers: 1,
        maxWorkers: 1,
        spareWorkers: 0,
        drainTimeoutMs: 0,
        controlPort: 0,
      }),
    );
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
});
