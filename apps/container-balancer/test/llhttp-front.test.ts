/**
 * The llhttp front (`--proxy-front llhttp`, src/routing/llhttp-front.ts) on real TCP: raw client sockets write exact
 * request bytes to an in-process balancer in front of two plain HTTP servers registered over the registration
 * port, and read the exact answer bytes. Framing (pipelining in order, chunked both ways, HEAD, HTTP/1.0,
 * 100-continue), refusals (CL + TE, oversized head, Upgrade) counted in balancer_front_errors_total, and a client
 * going away aborting the container's request.
 */
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '@switchyard/core';
import type { ContainerLink } from '@switchyard/container-link';
import { waitFor } from '@switchyard/testing';
import { BalancerSettings, resolveConfig, type BalancerApp } from '../src/index.js';
import { loadLlhttp } from '../src/routing/llhttp-front.js';
import { HOST, REG_TOKEN, linkDirect, startBalancer, waitForQueue } from './helpers/start.js';

/** A raw client connection: everything it received as latin1 text, and whether the balancer closed it. */
interface Raw {
  sock: net.Socket;
  text(): string;
  ended(): boolean;
  write(s: string | Buffer): void;
}

async function raw(url: string): Promise<Raw> {
  const u = new URL(url);
  const sock = net.connect(Number(u.port), u.hostname);
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  let text = '';
  let ended = false;
  sock.on('data', (d: Buffer) => (text += d.toString('latin1')));
  sock.on('end', () => (ended = true));
  sock.on('close', () => (ended = true));
  sock.on('error', () => undefined);
  return { sock, text: () => text, ended: () => ended, write: (s) => sock.write(s) };
}

/** A chunked body decoded (strictly: each size line, that many bytes, CRLF; the last chunk ends it). */
function decodeChunked(body: string): string {
  let out = '';
  let at = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    const size = parseInt(body.slice(at, eol), 16);
    if (!Number.isFinite(size) || eol < 0) throw new Error(`bad chunk size at ${at}`);
    if (size === 0) {
      if (body.slice(eol) !== '\r\n\r\n') throw new Error('bytes after the last chunk');
      return out;
    }
    out += body.slice(eol + 2, eol + 2 + size);
    if (body.slice(eol + 2 + size, eol + 4 + size) !== '\r\n') throw new Error('chunk without CRLF');
    at = eol + 4 + size;
  }
}

/** Answers in the order they appear in `text` (status codes). */
const statuses = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

describe('the llhttp front', () => {
  let b: BalancerApp;
  const servers: http.Server[] = [];
  const links: ContainerLink[] = [];
  /** Paths the containers received, in order. */
  const received: string[] = [];
  /** Containers whose /endless answer was closed by the proxy. */
  const aborted: string[] = [];

  const frontErrors = async (reason: string) =>
    (await b.metrics.frontErrors.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;

  beforeAll(async () => {
    b = await startBalancer(systemClock, { proxyFront: 'llhttp' });
    for (const id of ['f1', 'f2']) {
      const server = http.createServer((req, res) => {
        received.push(req.url!);
        if (req.url === '/endless') {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('first');
          res.once('close', () => aborted.push(id));
          return;
        }
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = Buffer.concat(chunks).toString();
          const answer = () => {
            if (req.url === '/chunked') {
              // no Content-Length: Node sends it chunked, the front must frame it for its client itself
              res.writeHead(200, { 'content-type': 'text/plain' });
              res.write('part-one,');
              setImmediate(() => res.end('part-two'));
              return;
            }
            if (req.url === '/empty') {
              res.writeHead(204);
              res.end();
              return;
            }
            const out = `${req.method}:${req.url}:${body}`;
            res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(out) });
            res.end(req.method === 'HEAD' ? undefined : out);
          };
          // /hold answers only once /release reached a container: a later request is answered first
          if (req.url === '/hold') {
            waitFor('release', () => received.includes('/release'), { timeoutMs: 10_000 }).then(answer, () =>
              res.destroy(),
            );
          } else answer();
        });
      });
      await new Promise<void>((r) => server.listen(0, HOST, r));
      servers.push(server);
      links.push(
        await linkDirect(b, {
          id,
          service: 'fr',
          capacity: 10,
          address: `${HOST}:${(server.address() as net.AddressInfo).port}`,
        }),
      );
    }
    await waitForQueue(b, ['f1', 'f2'], 'fr');
  });
  afterAll(async () => {
    await Promise.all(links.map((l) => l.stop()));
    await b.stop();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  it('answers pipelined requests on one connection in request order, even when a later one is answered first', async () => {
    const c = await raw(b.url!);
    try {
      c.write(
        'GET /svc/fr/hold HTTP/1.1\r\nHost: a\r\n\r\n' +
          'GET /svc/fr/release HTTP/1.1\r\nHost: a\r\n\r\n' +
          'GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n',
      );
      await waitFor('three answers', () => statuses(c.text()).length === 3 && c.text().endsWith('}'), {
        timeoutMs: 3000,
      }).catch((e: Error) => {
        throw new Error(`${e.message}; got ${JSON.stringify(c.text())}`);
      });
      const t = c.text();
      const hold = t.indexOf('GET:/hold:');
      const release = t.indexOf('GET:/release:');
      const health = t.indexOf('"status":"ok"');
      expect(hold).toBeGreaterThan(0);
      expect(release).toBeGreaterThan(hold);
      expect(health).toBeGreaterThan(release); // the control API answers on the same connection, in turn
      expect(statuses(t)).toEqual([200, 200, 200]);
      expect(c.ended()).toBe(false); // keep-alive
    } finally {
      c.sock.destroy();
    }
  });

  it('passes a chunked request body written in pieces, and frames a container answer without length as chunked', async () => {
    const c = await raw(b.url!);
    try {
      c.write('POST /svc/fr/up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel');
      await new Promise((r) => setImmediate(r));
      c.write('lo\r\n6\r\n world\r\n0\r\n\r\n');
      await waitFor('the POST answer', () => c.text().includes('POST:/up:hello world'));
      c.write('GET /svc/fr/chunked HTTP/1.1\r\nHost: a\r\n\r\n');
      await waitFor('the chunked answer', () => c.text().endsWith('0\r\n\r\n'));
      const second = c.text().slice(c.text().indexOf('POST:/up:hello world') + 20);
      expect(second).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(second.toLowerCase()).toContain('transfer-encoding: chunked\r\n');
      expect(second.toLowerCase()).not.toContain('content-length');
      const body = second.slice(second.indexOf('\r\n\r\n') + 4);
      expect(decodeChunked(body)).toBe('part-one,part-two');
    } finally {
      c.sock.destroy();
    }
  });

  it('refuses Content-Length with Transfer-Encoding (400), closes, sends nothing on, and counts it', async () => {
    const before = await frontErrors('bad_request');
    const n = received.length;
    const c = await raw(b.url!);
    c.write(
      'POST /svc/fr/smuggle HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /svc/fr/inner HTTP/1.1\r\n\r\n',
    );
    await waitFor('closed by the balancer', () => c.ended());
    expect(statuses(c.text())).toEqual([400]);
    expect(c.text()).toContain('BAL_ERR_BAD_REQUEST');
    expect(received.slice(n)).toEqual([]);
    expect(await frontErrors('bad_request')).toBe(before + 1);
  });

  it('answers a head above 16 KiB with 431 and closes', async () => {
    const before = await frontErrors('header_overflow');
    const c = await raw(b.url!);
    c.write(`GET /svc/fr/big HTTP/1.1\r\nHost: a\r\nX-Big: ${'x'.repeat(20 * 1024)}\r\n\r\n`);
    await waitFor('closed by the balancer', () => c.ended());
    expect(statuses(c.text())).toEqual([431]);
    expect(await frontErrors('header_overflow')).toBe(before + 1);
  });

  it('closes an HTTP/1.0 connection without keep-alive after its answer; keeps one that asks for it', async () => {
    const c = await raw(b.url!);
    c.write('GET /svc/fr/ten HTTP/1.0\r\n\r\n');
    await waitFor('closed by the balancer', () => c.ended());
    expect(c.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(c.text().toLowerCase()).toContain('connection: close\r\n');
    expect(c.text().endsWith('GET:/ten:')).toBe(true);

    const k = await raw(b.url!);
    try {
      k.write('GET /svc/fr/ten-ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
      await waitFor('the answer', () => k.text().endsWith('GET:/ten-ka:'));
      expect(k.text().toLowerCase()).toContain('connection: keep-alive\r\n');
      k.write('GET /svc/fr/ten-ka2 HTTP/1.0\r\n\r\n');
      await waitFor(
        'the second answer, then the close',
        () => k.text().endsWith('GET:/ten-ka2:') && k.ended(),
      );
    } finally {
      k.sock.destroy();
    }
  });

  it('Connection: close: answered with connection: close, then closed; a request pipelined after it never reaches a container', async () => {
    const n = received.length;
    const c = await raw(b.url!);
    c.write(
      'GET /svc/fr/last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /svc/fr/too-late HTTP/1.1\r\nHost: a\r\n\r\n',
    );
    await waitFor('closed by the balancer', () => c.ended());
    expect(statuses(c.text())).toEqual([200]);
    expect(c.text().toLowerCase()).toContain('connection: close\r\n');
    expect(c.text().endsWith('GET:/last:')).toBe(true);
    expect(received.slice(n)).toEqual(['/last']);
  });

  it('a malformed chunk in a buffered (idempotent) body: 400 for that request, nothing sent to a container, closed', async () => {
    const before = await frontErrors('bad_request');
    const n = received.length;
    const c = await raw(b.url!);
    c.write(
      'PUT /svc/fr/badchunk HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\nzz\r\n',
    );
    await waitFor('closed by the balancer', () => c.ended());
    expect(statuses(c.text())).toEqual([400]);
    expect(received.slice(n)).toEqual([]);
    expect(await frontErrors('bad_request')).toBe(before + 1);
  });

  it('sends no body after HEAD or a 204 (the next answer follows the head at once)', async () => {
    const c = await raw(b.url!);
    try {
      c.write(
        'HEAD /svc/fr/h HTTP/1.1\r\nHost: a\r\n\r\nGET /svc/fr/empty HTTP/1.1\r\nHost: a\r\n\r\nGET /svc/fr/after HTTP/1.1\r\nHost: a\r\n\r\n',
      );
      await waitFor('three answers', () => c.text().endsWith('GET:/after:'));
      const t = c.text();
      expect(statuses(t)).toEqual([200, 204, 200]);
      const heads = t.split('\r\n\r\n');
      // HEAD's head, then at once the 204's head, then the GET's head and its body
      expect(heads).toHaveLength(4);
      expect(heads[3]).toBe('GET:/after:');
      expect(heads[0]!.toLowerCase()).toContain('content-length: 8'); // the container's length for HEAD:/h:
      expect(heads[1]).toMatch(/^HTTP\/1\.1 204 /);
      expect(heads[1]!.toLowerCase()).not.toContain('transfer-encoding');
    } finally {
      c.sock.destroy();
    }
  });

  it('answers 100 Continue to Expect: 100-continue, then passes the body', async () => {
    const c = await raw(b.url!);
    try {
      c.write('PUT /svc/fr/cont HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n');
      await waitFor('100 Continue', () => c.text().startsWith('HTTP/1.1 100 Continue\r\n\r\n'));
      c.write('data');
      await waitFor('the final answer', () => c.text().endsWith('PUT:/cont:data'));
      expect(statuses(c.text())).toEqual([100, 200]);
    } finally {
      c.sock.destroy();
    }
  });

  it('refuses Upgrade with 501 and closes; counts it', async () => {
    const before = await frontErrors('upgrade');
    const c = await raw(b.url!);
    c.write('GET /svc/fr/ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    await waitFor('closed by the balancer', () => c.ended());
    expect(statuses(c.text())).toEqual([501]);
    expect(await frontErrors('upgrade')).toBe(before + 1);
  });

  it("a client that goes away mid-answer aborts the container's request and releases its in-flight count", async () => {
    const c = await raw(b.url!);
    c.write('GET /svc/fr/endless HTTP/1.1\r\nHost: a\r\n\r\n');
    await waitFor('the first chunk', () => c.text().includes('first'));
    const id = /x-container-id: (\S+)\r\n/i.exec(c.text())![1]!;
    expect(b.table.get(id)?.inFlight).toBe(1);
    c.sock.destroy();
    await waitFor('the container sees its request aborted', () => aborted.includes(id));
    await waitFor('in flight back to 0', () => b.table.get(id)?.inFlight === 0);
  });

  it("the start-up check: Node 20's parser is found here; a Node without it fails naming --proxy-front node", () => {
    expect(typeof loadLlhttp().HTTPParser).toBe('function');
    const missing = /needs Node's internal _http_common\.HTTPParser .*use --proxy-front node/;
    expect(() => loadLlhttp(() => ({}))).toThrow(missing);
    expect(() =>
      loadLlhttp(() => {
        throw new Error('Cannot find module');
      }),
    ).toThrow(missing);
    // a parser class without consume (another Node's API) is refused too
    expect(() => loadLlhttp(() => ({ HTTPParser: class {}, methods: [] }))).toThrow(missing);
  });
});

describe('the llhttp front: a slow request head (headersTimeoutMs, on the injected clock)', () => {
  const clock = new ManualClock();
  let b: BalancerApp;
  beforeAll(async () => {
    b = await startBalancer(clock, { proxyFront: 'llhttp', headersTimeoutMs: 1000 });
  });
  afterAll(async () => {
    await b.stop();
  });

  it('answers 408 and closes a connection whose head is not complete in time; a complete one is left alone', async () => {
    const slow = await raw(b.url!);
    slow.write('GET /svc/fr/x HTTP/1.1\r\nHost: a\r\nX-Trickle: 1'); // no end of head: a slow-header client
    const done = await raw(b.url!);
    done.write('GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n');
    await waitFor('the complete request answered', () => statuses(done.text()).length === 1);
    expect(statuses(done.text())).toEqual([200]);
    // each poll moves the clock past the limit: the sweep (every second) cuts the head once its bytes were parsed
    await waitFor('the slow head cut', () => {
      clock.advance(1100);
      return slow.ended();
    });
    expect(slow.text()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(slow.text()).toMatch(/\r\nconnection: close\r\n/);
    const counted = (await b.metrics.frontErrors.get()).values.find(
      (v) => v.labels.reason === 'headers_timeout',
    );
    expect(counted?.value).toBe(1);
    // the connection whose request was complete (no head in progress) stays open and answers again
    expect(done.ended()).toBe(false);
    done.write('GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n');
    await waitFor('the second request answered', () => statuses(done.text()).length === 2);
    done.sock.destroy();
  });
});

describe('the llhttp front: a slow request body (requestTimeoutMs, on the injected clock)', () => {
  const clock = new ManualClock();
  let b: BalancerApp;
  let server: http.Server;
  let link: ContainerLink;
  /** Paths the container received (at their head), and those whose request was cut before its body ended. */
  const received: string[] = [];
  const cut: string[] = [];

  const requestTimeouts = async () =>
    (await b.metrics.frontErrors.get()).values.find((v) => v.labels.reason === 'request_timeout')?.value ?? 0;
  /** Moves the clock past the limit, one sweep (a second) at a time, until `done`. */
  const expire = (what: string, done: () => boolean) =>
    waitFor(what, () => {
      if (!done()) clock.advance(1000);
      return done();
    });

  beforeAll(async () => {
    // the deadline of a silent container is far off: the clock jumps here, the container's heartbeats do not
    b = await startBalancer(clock, {
      proxyFront: 'llhttp',
      headersTimeoutMs: 1000,
      requestTimeoutMs: 2000,
      deadlineMs: 3_600_000,
    });
    server = http.createServer((req, res) => {
      received.push(req.url!);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.end(`${req.method}:${req.url}:${Buffer.concat(chunks).toString()}`));
      res.once('close', () => {
        if (!res.writableEnded) cut.push(req.url!);
      });
    });
    await new Promise<void>((r) => server.listen(0, HOST, r));
    link = await linkDirect(b, {
      id: 's1',
      service: 'sb',
      capacity: 10,
      address: `${HOST}:${(server.address() as net.AddressInfo).port}`,
    });
    await waitForQueue(b, ['s1'], 'sb');
  });
  afterAll(async () => {
    await link.stop();
    await b.stop();
    await new Promise((r) => server.close(r));
  });

  it("a streamed body not in in time: 408, closed, the container's request aborted and its in-flight count freed", async () => {
    const c = await raw(b.url!);
    c.write('POST /svc/sb/up HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789');
    await waitFor('the container has the head', () => received.includes('/up'));
    expect(b.table.get('s1')?.inFlight).toBe(1);
    await expire('the slow body cut', () => c.ended());
    expect(c.text()).toBe('HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    await waitFor('the container sees its request cut', () => cut.includes('/up'));
    await waitFor('in flight back to 0', () => b.table.get('s1')?.inFlight === 0);
    expect(await requestTimeouts()).toBe(1);
  });

  it('a buffered (idempotent) body not in in time: 408, nothing reached the container', async () => {
    const c = await raw(b.url!);
    c.write('PUT /svc/sb/put HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n012');
    await expire('the slow body cut', () => c.ended());
    expect(c.text()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(received).not.toContain('/put');
    expect(await requestTimeouts()).toBe(2);
  });

  it('a body in within the limit is passed on and answered; the connection stays', async () => {
    const c = await raw(b.url!);
    c.write('POST /svc/sb/ok HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab');
    await waitFor('the container has the head', () => received.includes('/ok'));
    clock.advance(1000); // one sweep, the request half its limit old
    c.write('cd');
    await waitFor('the answer', () => c.text().includes('POST:/ok:abcd'));
    expect(c.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    clock.advance(3000); // sweeps with no request in progress cut nothing
    c.write('GET /svc/sb/again HTTP/1.1\r\nHost: a\r\n\r\n');
    await waitFor('the second answer', () => c.text().includes('GET:/again:'));
    expect(c.ended()).toBe(false);
    expect(await requestTimeouts()).toBe(2);
    c.sock.destroy();
  });

  it('--request-timeout-ms below --headers-timeout-ms (and not 0) is refused at start-up', () => {
    const parse = (over: Record<string, unknown>) =>
      resolveConfig(BalancerSettings.parse({ registrationToken: REG_TOKEN, ...over }));
    expect(() => parse({ headersTimeoutMs: 5000, requestTimeoutMs: 1000 })).toThrow(/requestTimeoutMs/);
    expect(parse({ headersTimeoutMs: 5000, requestTimeoutMs: 0 }).requestTimeoutMs).toBe(0);
    expect(parse({}).requestTimeoutMs).toBe(300_000);
  });
});
