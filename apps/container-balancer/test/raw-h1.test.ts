/**
 * The minimal HTTP/1.1 client (`--upstream-client raw`, src/upstream/raw-h1.ts) against a scripted container on
 * a real TCP socket: the server records the bytes of each request and answers with exact bytes, written in
 * pieces where the test says so. Framing (Content-Length, chunked, close-delimited, no-body answers, 1xx),
 * connection reuse, and every malformed or ambiguous framing refused (a response-smuggling attempt must never be
 * passed on or leave the connection in the pool).
 */
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '@switchyard/core';
import { waitFor } from '@switchyard/testing';
import { RawH1Pool } from '../src/upstream/raw-h1.js';
import { UpstreamFailure, requestOn, type UpstreamRequest } from '../src/upstream/upstream.js';

const HOST = '127.0.41.1';

/**
 * A response script: pieces written one by one (each its own write, the next after a turn of the event loop),
 * `END` ends the connection; 'close' destroys it without an answer, 'hold' never answers.
 */
const END = Symbol('end');
type Script = (string | Buffer | typeof END)[] | 'close' | 'hold';

class Scripted {
  readonly server: net.Server;
  /** Each request's head as received, in order. */
  readonly heads: string[] = [];
  /** Which connection (1, 2, …) each request came on. */
  readonly conns: number[] = [];
  readonly closed: number[] = [];
  readonly scripts: Script[] = [];
  /** Open connections by number. */
  readonly socks = new Map<number, net.Socket>();
  private n = 0;

  constructor() {
    this.server = net.createServer((sock) => {
      const id = ++this.n;
      let buf = Buffer.alloc(0);
      this.socks.set(id, sock);
      sock.on('close', () => {
        this.closed.push(id);
        this.socks.delete(id);
      });
      sock.on('error', () => undefined);
      sock.on('data', (b: Buffer) => {
        buf = Buffer.concat([buf, b]);
        for (;;) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buf.subarray(0, end).toString('latin1');
          const cl = /\r\ncontent-length: (\d+)/i.exec(head);
          const len = cl ? Number(cl[1]) : 0;
          if (buf.length < end + 4 + len) return;
          this.heads.push(buf.subarray(0, end + 4 + len).toString('latin1'));
          this.conns.push(id);
          buf = buf.subarray(end + 4 + len);
          void this.answer(sock, this.scripts.shift() ?? ['HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok']);
        }
      });
    });
  }

  private async answer(sock: net.Socket, script: Script): Promise<void> {
    if (script === 'close') return void sock.destroy();
    if (script === 'hold') return;
    for (const piece of script) {
      if (piece === END) return void sock.end();
      sock.write(piece);
      await new Promise((r) => setImmediate(r));
    }
  }

  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, HOST, r));
    return `${HOST}:${(this.server.address() as net.AddressInfo).port}`;
  }
}

const get = (path = '/p'): UpstreamRequest => ({
  method: 'GET',
  path,
  headers: ['x-a', '1'],
  idempotent: true,
  timeoutMs: 10_000,
});

async function text(r: Awaited<ReturnType<typeof requestOn>>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of r.body) parts.push(c as Buffer);
  return Buffer.concat(parts).toString('latin1');
}

/** One exchange through the handler callbacks themselves: what was passed on, and how it ended. */
function collect(
  pool: RawH1Pool,
  req: UpstreamRequest,
): Promise<{ status: number | undefined; body: string; error: UpstreamFailure | undefined }> {
  return new Promise((resolve) => {
    let status: number | undefined;
    const parts: Buffer[] = [];
    const done = (error: UpstreamFailure | undefined) =>
      resolve({ status, body: Buffer.concat(parts).toString('latin1'), error });
    pool.dispatch(req, {
      onStart: () => undefined,
      onHeaders: (s) => (status = s),
      onData: (c) => parts.push(Buffer.from(c)) > 0,
      onComplete: () => done(undefined),
      onError: (e) => done(e),
    });
  });
}

async function failure(p: Promise<unknown>): Promise<UpstreamFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UpstreamFailure);
  return err as UpstreamFailure;
}

describe('raw HTTP/1.1 upstream client', () => {
  let srv: Scripted;
  let address: string;
  let pool: RawH1Pool;

  beforeEach(async () => {
    srv = new Scripted();
    address = await srv.start();
    pool = new RawH1Pool(address, systemClock, { connections: 4, connectTimeoutMs: 2000 });
  });

  afterEach(async () => {
    await pool.destroy();
    await new Promise((r) => srv.server.close(r));
  });

  it('sends one well-formed head, frames a buffered body itself, and reuses the connection', async () => {
    srv.scripts.push(['HTTP/1.1 200 OK\r\nContent-', 'Length: 5\r\nX-B: 2\r\n', '\r\nhel', 'lo']);
    const r1 = await requestOn(pool, {
      ...get('/a?b=1'),
      headers: ['x-a', '1', 'content-length', '99', 'host', 'evil', 'expect', '100-continue'],
    });
    expect(r1.status).toBe(200);
    expect(r1.headers['x-b']).toBe('2');
    expect(await text(r1)).toBe('hello');
    const r2 = await requestOn(pool, {
      ...get('/put'),
      method: 'PUT',
      body: Buffer.from('abc'),
    });
    expect(await text(r2)).toBe('ok');
    const r3 = await requestOn(pool, { ...get('/del'), method: 'PUT' });
    expect(await text(r3)).toBe('ok');
    expect(srv.heads).toEqual([
      `GET /a?b=1 HTTP/1.1\r\nhost: ${address}\r\nx-a: 1\r\n\r\n`,
      `PUT /put HTTP/1.1\r\nhost: ${address}\r\nx-a: 1\r\ncontent-length: 3\r\n\r\nabc`,
      `PUT /del HTTP/1.1\r\nhost: ${address}\r\nx-a: 1\r\ncontent-length: 0\r\n\r\n`,
    ]);
    expect(srv.conns).toEqual([1, 1, 1]);
    expect(pool.size).toBe(1);
  });

  it('decodes a chunked body split anywhere, with extensions and trailers', async () => {
    const raw =
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n';
    srv.scripts.push([...raw].map((c) => c)); // one byte per write
    srv.scripts.push([raw]);
    for (let i = 0; i < 2; i++) {
      const r = await requestOn(pool, get());
      expect(r.headers['transfer-encoding']).toBe('chunked');
      expect(await text(r)).toBe('hello 0123456789');
    }
    expect(srv.conns).toEqual([1, 1]);
  });

  it('reads a body without length until the close and does not reuse that connection', async () => {
    srv.scripts.push(['HTTP/1.1 200 OK\r\n\r\nuntil', ' close', END]);
    const r = await requestOn(pool, get());
    expect(await text(r)).toBe('until close');
    expect(await text(await requestOn(pool, get()))).toBe('ok');
    expect(srv.conns).toEqual([1, 2]);
  });

  it('reads no body after HEAD, 204 and 304 even with a Content-Length, and skips 100 Continue', async () => {
    srv.scripts.push(['HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n']);
    srv.scripts.push(['HTTP/1.1 204 No Content\r\ncontent-length: 10\r\n\r\n']);
    srv.scripts.push(['HTTP/1.1 304 Not Modified\r\n\r\n']);
    srv.scripts.push([
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nlink: x\r\n\r\nHTTP/1.1 200 OK\r\n',
      'content-length: 1\r\n\r\n!',
    ]);
    const head = await requestOn(pool, { ...get(), method: 'HEAD' });
    expect([head.status, await text(head)]).toEqual([200, '']);
    const r204 = await requestOn(pool, get());
    expect([r204.status, await text(r204)]).toEqual([204, '']);
    const r304 = await requestOn(pool, get());
    expect([r304.status, await text(r304)]).toEqual([304, '']);
    const r = await requestOn(pool, get());
    expect([r.status, await text(r)]).toEqual([200, '!']);
    expect(srv.conns).toEqual([1, 1, 1, 1]);
  });

  const refused: [string, string[]][] = [
    [
      'Content-Length and Transfer-Encoding',
      ['HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n'],
    ],
    [
      'two different Content-Lengths',
      ['HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab'],
    ],
    ['a list of different Content-Lengths', ['HTTP/1.1 200 OK\r\ncontent-length: 1, 2\r\n\r\nab']],
    ['a signed Content-Length', ['HTTP/1.1 200 OK\r\ncontent-length: +2\r\n\r\nab']],
    [
      'a transfer coding other than chunked',
      ['HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n0\r\n\r\n'],
    ],
    [
      'Transfer-Encoding twice',
      ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n'],
    ],
    ['obs-fold', ['HTTP/1.1 200 OK\r\nx-a: 1\r\n  folded\r\ncontent-length: 0\r\n\r\n']],
    ['a space before the colon', ['HTTP/1.1 200 OK\r\ncontent-length : 0\r\n\r\n']],
    ['a bare LF in a header', ['HTTP/1.1 200 OK\r\nx-a: 1\nx-b: 2\r\ncontent-length: 0\r\n\r\n']],
    ['a bad status line', ['HTTP/1.1 2000 OK\r\ncontent-length: 0\r\n\r\n']],
    ['HTTP/2 in an HTTP/1.1 status line', ['HTTP/2 200 OK\r\ncontent-length: 0\r\n\r\n']],
    ['101 Switching Protocols', ['HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n']],
    [
      'a head over 16 KiB',
      [`HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(17 * 1024)}\r\ncontent-length: 0\r\n\r\n`],
    ],
  ];

  it.each(refused)(
    'refuses %s before headers as a reset and closes the connection',
    async (_name, script) => {
      srv.scripts.push(script);
      const err = await failure(requestOn(pool, get()));
      expect(err.kind).toBe('reset');
      expect(err.message).toMatch(/protocol error/);
      await waitFor('the container connection closed', () => (srv.closed.includes(1) ? true : undefined));
      expect(pool.size).toBe(0);
      expect(await text(await requestOn(pool, get()))).toBe('ok'); // a new connection
      expect(srv.conns).toEqual([1, 2]);
    },
  );

  const brokenBodies: [string, string[]][] = [
    [
      'bytes after a Content-Length body',
      ['HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'],
    ],
    ['a bad chunk size', ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n', '-1\r\nx\r\n0\r\n\r\n']],
    [
      'a chunk longer than its size',
      ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n', '1\r\nxy\r\n0\r\n\r\n'],
    ],
    [
      'a bare LF after a chunk size',
      ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n', '1\nx\r\n0\r\n\r\n'],
    ],
    [
      'bytes after the last chunk',
      ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n', '0\r\n\r\nGET / HTTP/1.1\r\n\r\n'],
    ],
  ];

  it.each(brokenBodies)(
    'passes the headers, then breaks the body on %s, never reusing the connection',
    async (_name, script) => {
      srv.scripts.push(script);
      const r = await collect(pool, get());
      expect(r.status).toBe(200);
      expect(r.error?.kind).toBe('reset');
      expect(r.error?.message).toMatch(/body broke/);
      await waitFor('the container connection closed', () => (srv.closed.includes(1) ? true : undefined));
      expect(await text(await requestOn(pool, get()))).toBe('ok');
      expect(srv.conns).toEqual([1, 2]);
    },
  );

  it('closes an idle connection that receives unsolicited bytes', async () => {
    expect(await text(await requestOn(pool, get()))).toBe('ok');
    for (const s of srv.socks.values()) s.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nevil');
    await waitFor('the idle connection closed', () => (srv.closed.includes(1) ? true : undefined));
    expect(await text(await requestOn(pool, get()))).toBe('ok');
    expect(srv.conns).toEqual([1, 2]);
  });

  it('reports a refused connection as connect and a reset before headers as reset', async () => {
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(0, HOST, r));
    const port = (dead.address() as net.AddressInfo).port;
    await new Promise((r) => dead.close(r));
    const p2 = new RawH1Pool(`${HOST}:${port}`, systemClock, { connections: 1, connectTimeoutMs: 2000 });
    expect((await failure(requestOn(p2, get()))).kind).toBe('connect');
    await p2.destroy();
    srv.scripts.push('close');
    expect((await failure(requestOn(pool, get()))).kind).toBe('reset');
  });

  it('queues requests beyond its connections and runs them as connections free up', async () => {
    const small = new RawH1Pool(address, systemClock, { connections: 2, connectTimeoutMs: 2000 });
    const all = await Promise.all([1, 2, 3, 4, 5].map((i) => requestOn(small, get(`/${i}`)).then(text)));
    expect(all).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    expect(new Set(srv.conns)).toEqual(new Set([1, 2]));
    expect(small.size).toBe(2);
    await small.destroy();
  });

  it('times out waiting for response headers on the injected clock, then closes the connection', async () => {
    const clock = new ManualClock();
    const p = new RawH1Pool(address, clock, { connections: 1, connectTimeoutMs: 2000 });
    srv.scripts.push('hold');
    let settled: unknown;
    const r = requestOn(p, { ...get(), timeoutMs: 1000 }).then(
      () => (settled = 'answered'),
      (e: unknown) => (settled = e),
    );
    await waitFor('the request to arrive', () => (srv.heads.length === 1 ? true : undefined));
    clock.advance(999);
    await new Promise((res) => setImmediate(res));
    expect(settled).toBeUndefined();
    clock.advance(1);
    await r;
    expect((settled as UpstreamFailure).kind).toBe('timeout');
    await waitFor('the connection closed', () => (srv.closed.includes(1) ? true : undefined));
    await p.destroy();
  });

  it("does not reuse a connection idle longer than 4 s, or than the container's Keep-Alive timeout less 1 s", async () => {
    const clock = new ManualClock();
    const p = new RawH1Pool(address, clock, { connections: 4, connectTimeoutMs: 2000 });
    expect(await text(await requestOn(p, get()))).toBe('ok');
    clock.advance(4000);
    expect(await text(await requestOn(p, get()))).toBe('ok'); // 4 s idle: still reused
    clock.advance(4001);
    expect(await text(await requestOn(p, get()))).toBe('ok'); // over 4 s: a new connection
    expect(srv.conns).toEqual([1, 1, 2]);
    await waitFor('the stale connection closed', () => (srv.closed.includes(1) ? true : undefined));
    srv.scripts.push(['HTTP/1.1 200 OK\r\nkeep-alive: timeout=2\r\ncontent-length: 2\r\n\r\nok']);
    expect(await text(await requestOn(p, get()))).toBe('ok');
    clock.advance(1001); // the container keeps it 2 s: reused for 1 s at most
    expect(await text(await requestOn(p, get()))).toBe('ok');
    expect(srv.conns).toEqual([1, 1, 2, 2, 3]);
    await p.destroy();
  });

  it('aborting an exchange closes its connection; the pool opens another', async () => {
    srv.scripts.push('hold');
    let abort: (() => void) | undefined;
    pool.dispatch(get(), {
      onStart: (a) => (abort = a),
      onHeaders: () => undefined,
      onData: () => true,
      onComplete: () => undefined,
      onError: () => undefined,
    });
    await waitFor('the request to arrive', () => (srv.heads.length === 1 ? true : undefined));
    abort!();
    await waitFor('the connection closed', () => (srv.closed.includes(1) ? true : undefined));
    expect(await text(await requestOn(pool, get()))).toBe('ok');
    expect(srv.conns).toEqual([1, 2]);
  });

  it('refuses a CR or LF in the path or a header value before sending anything', async () => {
    expect((await failure(requestOn(pool, get('/a HTTP/1.1\r\nx: y')))).message).toMatch(/bad path/);
    expect(
      (await failure(requestOn(pool, { ...get(), headers: ['x-a', 'v\r\nx-injected: 1'] }))).message,
    ).toMatch(/bad header/);
    expect(srv.heads).toEqual([]);
  });
});
