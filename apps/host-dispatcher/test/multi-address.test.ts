/** Several service addresses (IPv4 and IPv6) on one dispatcher: each is answered from its own address and port. */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@switchyard/testing';
import { Dispatcher, parseDispatcherConfig } from '../src/index.js';
import { invite } from './sip-fixtures.js';

describe('several service addresses', () => {
  let d: Dispatcher;
  beforeAll(async () => {
    d = new Dispatcher(
      {},
      parseDispatcherConfig({
        listen: ['127.0.0.1:0', '[::1]:0'],
        minWorkers: 2,
        spareWorkers: 0,
        drainTimeoutMs: 0,
      }),
    );
    await d.start();
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('answers OPTIONS on 127.0.0.1 and ::1 from the address it was sent to', async () => {
    const [v4, v6] = d.addresses;
    expect(v4!.host).toBe('127.0.0.1');
    expect(v6!.host).toBe('::1');
    for (const [type, target, host] of [
      ['udp4', v4!, '127.0.0.1'],
      ['udp6', v6!, '::1'],
    ] as const) {
      const sock = dgram.createSocket(type);
      await new Promise<void>((r) => sock.bind(0, host, () => r()));
      const answers: { status: string; from: string }[] = [];
      sock.on('message', (m, rinfo) =>
        answers.push({ status: m.toString('latin1', 8, 11), from: `${rinfo.address}:${rinfo.port}` }),
      );
      const msg = invite({ method: 'OPTIONS', callId: `opt-${type}`, branch: `z9hG4bK-${type}`, body: '' });
      await waitFor(`200 over ${type}`, () => {
        if (answers.length === 0) sock.send(msg, target.port, target.host);
        return answers.length > 0;
      });
      expect(answers[0]).toEqual({ status: '200', from: `${target.host}:${target.port}` });
      sock.close();
    }
  });
});
