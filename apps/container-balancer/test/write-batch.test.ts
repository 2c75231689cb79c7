/**
 * Write batching of the pipelined upstream sockets (`src/upstream/write-batch.ts`), on real loopback TCP sockets:
 * the writes of one turn of the event loop stay queued in the socket (corked) and leave together at the turn's end.
 */
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '@switchyard/testing';
import { batchWrites } from '../src/upstream/write-batch.js';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A server that keeps what each accepted connection received, by order of acceptance. */
class Sink {
  readonly received: string[] = [];
  readonly server = net.createServer((s) => {
    const i = this.received.push('') - 1;
    s.setEncoding('latin1');
    s.on('data', (d: string) => (this.received[i] += d));
  });

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as net.AddressInfo).port;
  }
}

describe('batchWrites', () => {
  let sink: Sink;
  let port: number;
  const sockets: net.Socket[] = [];

  const connect = async (): Promise<net.Socket> => {
    const s = net.connect(port, '127.0.0.1');
    sockets.push(s);
    await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
    return s;
  };

  beforeEach(async () => {
    sink = new Sink();
    port = await sink.listen();
  });

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await new Promise<void>((resolve) => sink.server.close(() => resolve()));
  });

  it('without it, each write leaves at once (the control: the checks below can fail)', async () => {
    const s = await connect();
    s.write('GET /a HTTP/1.1\r\n\r\n', 'latin1');
    expect(s.writableLength).toBe(0);
  });

  it('holds the writes of one turn in the socket and sends them together at its end, in order', async () => {
    const s = await connect();
    batchWrites(s);
    const reqs = ['GET /1 HTTP/1.1\r\n\r\n', 'GET /2 HTTP/1.1\r\n\r\n', 'GET /3 HTTP/1.1\r\n\r\n'];
    // undici's own cork/uncork pair around one request nests inside the batch's cork
    s.cork();
    s.write(reqs[0]!, 'latin1');
    s.uncork();
    s.write(reqs[1]!, 'latin1');
    s.write(Buffer.from(reqs[2]!, 'latin1'));
    const bytes = reqs.join('').length;
    expect(s.writableCorked).toBe(1);
    expect(s.writableLength).toBe(bytes);

    await nextTurn();
    expect(s.writableCorked).toBe(0);
    expect(s.writableLength).toBe(0);
    await waitFor('the sink received the three requests', () => sink.received[0] === reqs.join(''), {
      timeoutMs: 5_000,
    });
  });

  it('batches again in every later turn, and flushes every socket written in a turn', async () => {
    const a = await connect();
    const b = await connect();
    batchWrites(a);
    batchWrites(b);
    for (let turn = 0; turn < 3; turn++) {
      a.write(`a${turn}.`, 'latin1');
      b.write(`b${turn}.`, 'latin1');
      a.write(`a${turn}!`, 'latin1');
      expect([a.writableLength, b.writableLength]).toEqual([6, 3]);
      await nextTurn();
      expect([a.writableLength, b.writableLength]).toEqual([0, 0]);
    }
    await waitFor(
      'the sink received every turn from both sockets',
      () => sink.received.join('').length === 3 * (6 + 3),
      { timeoutMs: 5_000 },
    );
    expect(new Set(sink.received)).toEqual(new Set(['a0.a0!a1.a1!a2.a2!', 'b0.b1.b2.']));
  });

  it('a socket destroyed with writes held is skipped at the flush; the others still go', async () => {
    const dead = await connect();
    const live = await connect();
    batchWrites(dead);
    batchWrites(live);
    dead.write('lost', 'latin1');
    live.write('kept', 'latin1');
    dead.destroy();
    await nextTurn();
    expect(live.writableLength).toBe(0);
    await waitFor('the live socket was flushed', () => sink.received.includes('kept'), { timeoutMs: 5_000 });
    expect(sink.received).not.toContain('lost');
  });
});
