/**
 * The container's side against a real TCP server that speaks the balancer's side of the opening: hello + the
 * registration, welcome or reject, then heartbeats and deltas. Time is a ManualClock.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '@switchyard/core';
import { DEFAULT_LIMITS, FrameDecoder, decodeMessage, type PushMessage } from '@switchyard/registry';
import { thrownBy, undocumentedCodes, waitFor } from '@switchyard/testing';
import path from 'node:path';
import {
  ContainerLink,
  LinkError,
  LinkErrors,
  decodeHello,
  decodeReply,
  encodeLinkFrame,
  splitFirstFrame,
  type Hello,
  type LinkEvent,
} from '../src/index.js';

const HOST = '127.0.41.5';

/** A server that records each connection's hello and push messages and answers with `reply`. */
async function fakeBalancer(reply: (h: Hello) => Buffer) {
  const seen: Array<{ hello: Hello; msgs: PushMessage[] }> = [];
  const server = net.createServer((sock) => {
    let head = Buffer.alloc(0);
    let entry: { hello: Hello; msgs: PushMessage[] } | undefined;
    const dec = new FrameDecoder(65536);
    sock.on('data', (c: Buffer) => {
      if (!entry) {
        head = Buffer.concat([head, c]);
        const f = splitFirstFrame(head, 65536);
        if (!f) return;
        entry = { hello: decodeHello(f.body), msgs: [] };
        seen.push(entry);
        c = f.rest;
        sock.write(reply(entry.hello));
      }
      for (const b of dec.push(c)) entry.msgs.push(decodeMessage(b, DEFAULT_LIMITS));
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, HOST, () => r()));
  return { seen, server, port: (server.address() as net.AddressInfo).port };
}

describe('link protocol', () => {
  it('round-trips a hello and a reply, and refuses garbage by code', () => {
    const f = splitFirstFrame(
      encodeLinkFrame({ v: 1, k: 'hello', token: 't', role: 'reverse', id: 'c1' }),
      1024,
    )!;
    expect(decodeHello(f.body)).toEqual({ v: 1, k: 'hello', token: 't', role: 'reverse', id: 'c1' });
    expect(f.rest.length).toBe(0);
    const bad = (b: Buffer) => thrownBy(() => decodeHello(b), LinkError).code;
    expect(bad(Buffer.from([0xc1]))).toBe('LNK_ERR_BAD_HELLO');
    const body = (m: unknown) => splitFirstFrame(encodeLinkFrame(m as Hello), 1024)!.body;
    expect(bad(body({ v: 2, k: 'hello', token: 't', role: 'register' }))).toBe('LNK_ERR_BAD_HELLO');
    expect(bad(body({ v: 1, k: 'hello', token: '', role: 'register' }))).toBe('LNK_ERR_BAD_HELLO');
    expect(bad(body({ v: 1, k: 'hello', token: 't', role: 'reverse' }))).toBe('LNK_ERR_BAD_HELLO'); // no id
    expect(thrownBy(() => splitFirstFrame(Buffer.from([0, 1, 0, 0]), 1024), LinkError).code).toBe(
      'LNK_ERR_FRAME_SIZE',
    );
    expect(splitFirstFrame(Buffer.from([0, 0, 0, 5, 1]), 1024)).toBeUndefined();
    expect(thrownBy(() => decodeReply(body({ v: 1, k: 'other' })), LinkError).code).toBe('LNK_ERR_BAD_REPLY');
  });

  it('documents every error code in the README', () => {
    expect(undocumentedCodes(LinkErrors, path.resolve(import.meta.dirname, '../README.md'))).toEqual([]);
  });
});

describe('ContainerLink', () => {
  const links: ContainerLink[] = [];
  const servers: net.Server[] = [];
  afterEach(async () => {
    for (const l of links.splice(0)) await l.stop();
    for (const s of servers.splice(0)) s.close();
  });

  it('registers with hello + record, heartbeats on the clock, sends deltas at once', async () => {
    const fb = await fakeBalancer(() => encodeLinkFrame({ v: 1, k: 'welcome' }));
    servers.push(fb.server);
    const clock = new ManualClock();
    const events: LinkEvent[] = [];
    const link = new ContainerLink(
      { clock },
      {
        host: HOST,
        port: fb.port,
        token: 'tok',
        mode: 'direct',
        heartbeatMs: 100,
        record: { id: 'c1', service: 'mixer', capacity: 10, address: '127.0.0.1:9' },
      },
    );
    links.push(link);
    link.on((e) => events.push(e));
    await link.start();
    await waitFor('registered', () => link.isRegistered);
    expect(fb.seen[0]!.hello).toMatchObject({ token: 'tok', role: 'register' });
    await waitFor('registration + first heartbeat', () => fb.seen[0]!.msgs.length === 2);
    expect(fb.seen[0]!.msgs[0]).toMatchObject({
      k: 'hb',
      record: { id: 'c1', capacity: 10, meta: { mode: 'direct' } },
    });
    link.update({ load: 3 });
    await waitFor('delta', () => fb.seen[0]!.msgs.some((m) => m.k === 'delta'));
    clock.advance(300);
    await waitFor('three heartbeats', () => fb.seen[0]!.msgs.filter((m) => m.k === 'hb').length === 5);
    expect(fb.seen[0]!.msgs.at(-1)).toMatchObject({ k: 'hb', record: { load: 3 } });
    expect(events).toEqual([{ type: 'registered' }]);
  });

  it('reports a reject with the balancer code and redials on the clock', async () => {
    const fb = await fakeBalancer(() =>
      encodeLinkFrame({ v: 1, k: 'reject', code: 'BAL_ERR_UNAUTHORIZED', message: 'bad token' }),
    );
    servers.push(fb.server);
    const clock = new ManualClock();
    const events: LinkEvent[] = [];
    const link = new ContainerLink(
      { clock },
      {
        host: HOST,
        port: fb.port,
        token: 'wrong',
        mode: 'reverse',
        reconnectMs: 50,
        record: { id: 'c2', service: 'mixer', capacity: 1 },
      },
    );
    links.push(link);
    link.on((e) => events.push(e));
    await link.start();
    await waitFor('rejected', () => events.some((e) => e.type === 'rejected'));
    const r = events.find((e) => e.type === 'rejected') as { error: LinkError };
    expect(r.error.code).toBe('LNK_ERR_REJECTED');
    expect(r.error.details).toMatchObject({ code: 'BAL_ERR_UNAUTHORIZED' });
    expect(link.isRegistered).toBe(false);
    // redial after reconnectMs (the close must have been seen first)
    await waitFor('closed', () => fb.seen.length === 1);
    await new Promise((r) => setImmediate(r));
    await waitFor('redialed', () => {
      clock.advance(50);
      return fb.seen.length >= 2;
    });
  });
});
