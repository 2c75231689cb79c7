/**
 * The /svc proxy over real sockets: two plain HTTP servers registered by @switchyard/container-link (real TCP to the
 * registration port) behind an in-process balancer. Checks what a request looks like when it reaches the
 * container (path and query, hop-by-hop headers removed, forwarding headers), that bodies pass both ways, that an
 * idempotent request answered 503 goes to the other container while a POST is never retried, and the unit rules of
 * the header filters.
 */
import http from 'node:http';
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '@switchyard/core';
import type { ContainerLink } from '@switchyard/container-link';
import type { BalancerApp } from '../src/index.js';
import { forwardHeaders, responseHeaders } from '../src/routing/proxy-handler.js';
import { waitFor } from '@switchyard/testing';
import { HOST, linkDirect, startBalancer, waitForQueue } from './helpers/start.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** GET through an agent, the body read whole. */
function fetchVia(agent: http.Agent, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
  });
}

// every case through both HTTP fronts: net + llhttp (the default) and node:http (--proxy-front node)
describe.each(['llhttp', 'node'] as const)('the /svc proxy (front %s)', (proxyFront) => {
  let b: BalancerApp;
  const servers: http.Server[] = [];
  const links: ContainerLink[] = [];
  const seen: Record<string, Seen[]> = { p1: [], p2: [] };
  /** Answer 503 from this container while set (to exercise the retry rules). */
  const unavailable = new Set<string>();
  /** Containers whose /endless response was closed (by the proxy aborting it). */
  const aborted: string[] = [];

  beforeAll(async () => {
    b = await startBalancer(systemClock, { proxyFront });
    for (const id of ['p1', 'p2']) {
      const server = http.createServer((req, res) => {
        if (req.url === '/big') {
          // 8 MiB in 64 KiB writes, each after the previous one drained: the proxy must pass backpressure on
          const chunk = Buffer.alloc(64 * 1024, id.slice(1)); // '1' or '2'
          let left = 128;
          res.writeHead(200, {
            'content-type': 'application/octet-stream',
            'content-length': 128 * chunk.length,
          });
          const more = () => {
            while (left > 0) {
              left--;
              if (!res.write(chunk)) return void res.once('drain', more);
            }
            res.end();
          };
          return more();
        }
        if (req.url === '/silent') {
          // no answer at all: only the proxy aborting the request ends it
          res.once('close', () => aborted.push(`${id}/silent`));
          return;
        }
        if (req.url === '/endless') {
          // a first chunk, then nothing: only the proxy aborting the request ends it
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('first');
          res.once('close', () => aborted.push(id));
          return;
        }
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = Buffer.concat(chunks).toString();
          seen[id]!.push({ method: req.method!, url: req.url!, headers: req.headers, body });
          if (unavailable.has(id)) {
            res.writeHead(503, { 'content-type': 'text/plain' });
            res.end('busy');
            return;
          }
          res.writeHead(200, {
            'content-type': 'text/plain',
            'x-from': id,
            connection: 'keep-alive, x-hop',
            'x-hop': 'must not pass',
            'set-cookie': ['a=1', 'b=2'],
          });
          res.end(`${id}:${req.method}:${body}`);
        });
      });
      await new Promise<void>((r) => server.listen(0, HOST, r));
      servers.push(server);
      const link = await linkDirect(b, {
        id,
        service: 'echo',
        capacity: 10,
        address: `${HOST}:${(server.address() as net.AddressInfo).port}`,
      });
      links.push(link);
    }
    await waitForQueue(b, ['p1', 'p2'], 'echo');
  });
  afterAll(async () => {
    await Promise.all(links.map((l) => l.stop()));
    await b.stop();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });
  const last = (id: string) => seen[id]!.at(-1)!;

  it('forwards path and query, drops hop-by-hop headers, sets X-Forwarded-*; answers with the container id', async () => {
    // node:http, not fetch: fetch will not send a Connection header
    const res = await new Promise<{ headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
      const u = new URL(`${b.url}/svc/echo/a/b?x=1&y=2`);
      http
        .get(
          {
            host: u.hostname,
            port: u.port,
            path: `${u.pathname}${u.search}`,
            agent: false,
            localAddress: HOST,
            headers: {
              'x-custom': 'kept',
              'x-forwarded-for': '198.18.0.9',
              connection: 'keep-alive, x-secret',
              'x-secret': 's',
            },
          },
          (r) => {
            let body = '';
            r.on('data', (c: Buffer) => (body += c.toString()));
            r.on('end', () => resolve({ headers: r.headers, body }));
          },
        )
        .on('error', reject);
    });
    const id = String(res.headers['x-container-id']);
    expect(['p1', 'p2']).toContain(id);
    expect(res.body).toBe(`${id}:GET:`);
    expect(res.headers['x-from']).toBe(id);
    expect(res.headers['x-hop']).toBeUndefined(); // named by the container's Connection header
    expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    const s = last(id);
    expect(s.url).toBe('/a/b?x=1&y=2');
    expect(s.headers['x-custom']).toBe('kept');
    expect(s.headers['x-secret']).toBeUndefined();
    expect(s.headers['x-forwarded-for']).toBe(`198.18.0.9, ${HOST}`);
    expect(s.headers['x-forwarded-proto']).toBe('http');
    expect(s.headers['x-forwarded-host']).toBe(new URL(b.url!).host);
    expect(s.headers['x-forwarded-prefix']).toBe('/svc/echo');
  });

  it('passes request and response bodies (a POST body streamed, a PUT body buffered)', async () => {
    const post = await fetch(`${b.url}/svc/echo/items`, { method: 'POST', body: 'x'.repeat(100_000) });
    const postId = post.headers.get('x-container-id')!;
    expect(await post.text()).toBe(`${postId}:POST:${'x'.repeat(100_000)}`);
    const put = await fetch(`${b.url}/svc/echo/items/1`, { method: 'PUT', body: 'put-body' });
    expect(await put.text()).toBe(`${put.headers.get('x-container-id')}:PUT:put-body`);
  });

  it('streams an 8 MiB answer whole to a slow reader (backpressure), and releases the in-flight count after', async () => {
    const r = await fetch(`${b.url}/svc/echo/big`);
    const id = r.headers.get('x-container-id')!;
    const reader = r.body!.getReader();
    let bytes = 0;
    let wrong = 0;
    for (let n = 0; ; n++) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.length;
      for (const x of value) if (x !== id.charCodeAt(1)) wrong++;
      if (n % 16 === 0) await new Promise((resolve) => setImmediate(resolve)); // read slower than it comes
    }
    expect(bytes).toBe(8 * 1024 * 1024);
    expect(wrong).toBe(0);
    await waitFor('in flight back to 0', () => b.table.get(id)?.inFlight === 0);
  });

  it("a client that goes away mid-answer aborts the container's request and releases its in-flight count", async () => {
    const got = await new Promise<{ id: string; req: http.ClientRequest }>((resolve, reject) => {
      const req = http.get(`${b.url}/svc/echo/endless`, { agent: false }, (res) => {
        res.once('data', () => resolve({ id: String(res.headers['x-container-id']), req }));
      });
      req.on('error', () => undefined);
      setTimeout(() => reject(new Error('no first chunk through the proxy in 10 s')), 10_000).unref();
    });
    expect(b.table.get(got.id)?.inFlight).toBe(1);
    got.req.destroy();
    await waitFor('the container sees its request aborted', () => aborted.includes(got.id));
    await waitFor('in flight back to 0', () => b.table.get(got.id)?.inFlight === 0);
  });

  it('a client that goes away before the container answers aborts its request; the next request on a kept-alive connection still works', async () => {
    const before = aborted.length;
    const req = http.get(`${b.url}/svc/echo/silent`, { agent: false });
    req.on('error', () => undefined);
    await waitFor('the request is in flight at a container', () =>
      b.table
        .services()
        .find((s) => s.service === 'echo')!
        .containers.find((c) => c.inFlight === 1),
    );
    const id = b.table
      .services()
      .find((s) => s.service === 'echo')!
      .containers.find((c) => c.inFlight === 1)!.id;
    req.destroy();
    await waitFor('the container sees its request aborted', () =>
      aborted.slice(before).includes(`${id}/silent`),
    );
    await waitFor('in flight back to 0', () => b.table.get(id)?.inFlight === 0);
    // one connection, two requests one after the other: the first's completion must not touch the second
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 2; i++) {
        const r = await fetchVia(agent, `${b.url}/svc/echo/kept-${i}`);
        expect(r).toMatchObject({ status: 200 });
      }
    } finally {
      agent.destroy();
    }
  });

  it('retries an idempotent request answered 503 on the other container; never a POST', async () => {
    // with nothing in flight the two tie, and the head stays the head: make it the one that answers 503
    const head = b.table.services().find((s) => s.service === 'echo')!.containers[0]!.id;
    const other = head === 'p1' ? 'p2' : 'p1';
    unavailable.add(head);
    try {
      const before = { head: seen[head]!.length, other: seen[other]!.length };
      for (let i = 0; i < 4; i++) {
        const r = await fetch(`${b.url}/svc/echo/get-${i}`);
        expect(r.status).toBe(200);
        expect(r.headers.get('x-container-id')).toBe(other);
        await r.text();
      }
      expect(seen[head]!.length - before.head).toBe(4); // each GET tried the head first
      expect(seen[other]!.length - before.other).toBe(4);
      // POSTs: each is sent exactly once; the head's 503 is passed on, not retried, and counted
      for (let i = 0; i < 3; i++) {
        const n = seen.p1!.length + seen.p2!.length;
        const r = await fetch(`${b.url}/svc/echo/post-${i}`, { method: 'POST', body: String(i) });
        expect(r.status).toBe(503);
        expect(r.headers.get('x-container-id')).toBe(head);
        await r.text();
        expect(seen.p1!.length + seen.p2!.length).toBe(n + 1);
      }
      const metrics = await (await fetch(`${b.url}/metrics`)).text();
      expect(metrics).toMatch(/balancer_non_idempotent_failures_total\{service="echo"\} 3\n/);
      expect(metrics).toMatch(/balancer_retries_total\{service="echo"\} 4\n/);
    } finally {
      unavailable.delete(head);
    }
  });

  it('answers an unknown service 503 with Retry-After and an empty service 400, as JSON', async () => {
    const none = await fetch(`${b.url}/svc/nothing/x`);
    expect(none.status).toBe(503);
    expect(none.headers.get('retry-after')).toBe('1');
    expect(await none.json()).toMatchObject({ code: 'BAL_ERR_NO_CONTAINER' });
    const empty = await fetch(`${b.url}/svc//x`);
    expect(empty.status).toBe(400);
    expect(await empty.json()).toMatchObject({ code: 'BAL_ERR_BAD_REQUEST' });
  });
});

describe('header filters', () => {
  it('forwardHeaders: lower-cases, drops hop-by-hop and Connection-named headers, appends X-Forwarded-*', () => {
    const f = forwardHeaders(
      [
        'Host',
        'h:1',
        'Connection',
        'keep-alive, X-Drop',
        'X-Drop',
        'd',
        'Keep-Alive',
        'timeout=5',
        'TE',
        'trailers',
        'X-Forwarded-For',
        '198.18.0.1',
        'X-Forwarded-For',
        '198.18.0.2',
        'X-Forwarded-Proto',
        'https',
        'Idempotency-Key',
        'k1',
        'Content-Length',
        '3',
      ],
      { ip: '127.0.41.9', proto: 'http', prefix: '/svc/s' },
    );
    expect(f.idempotencyKey).toBe(true);
    expect(f.framed).toBe(true);
    expect(f.headers).toEqual([
      'idempotency-key',
      'k1',
      'content-length',
      '3',
      'x-forwarded-for',
      '198.18.0.1, 198.18.0.2, 127.0.41.9',
      'x-forwarded-proto',
      'http',
      'x-forwarded-host',
      'h:1',
      'x-forwarded-prefix',
      '/svc/s',
    ]);
    const plain = forwardHeaders(['accept', '*/*'], { ip: '127.0.41.9', proto: 'http', prefix: '/svc/s' });
    expect(plain).toMatchObject({ idempotencyKey: false, framed: false });
  });

  it('responseHeaders: keeps names as sent and repeated ones, drops hop-by-hop and Connection-named headers (any case)', () => {
    expect(
      responseHeaders([
        'Content-Type',
        'text/plain',
        'Connection',
        'close, X-A',
        'x-a',
        '1',
        'Transfer-Encoding',
        'chunked',
        'Set-Cookie',
        'a=1',
        'set-cookie',
        'b=2',
      ]),
    ).toEqual(['Content-Type', 'text/plain', 'Set-Cookie', 'a=1', 'set-cookie', 'b=2']);
  });
});
