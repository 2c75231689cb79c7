/**
 * HTTP pipelining to direct containers (`--upstream-pipelining`), over real sockets: a balancer in-process with a
 * depth of 4, two plain HTTP servers registered by @switchyard/container-link. Container `h` can hold its GET
 * answers (to see several requests on one of its connections at once) or break the connection they came on;
 * container `n` answers at once. Each server records the connection every request came on.
 */
import http from 'node:http';
import type net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, systemClock } from '@switchyard/core';
import type { ContainerLink } from '@switchyard/container-link';
import { thrownBy, waitFor } from '@switchyard/testing';
import { BalancerSettings, type BalancerApp } from '../src/index.js';
import { HOST, REG_TOKEN, linkDirect, startBalancer, waitForQueue } from './helpers/start.js';

interface Arrival {
  method: string;
  url: string;
  /** Which of the server's connections it came on (1, 2, … in the order they were accepted). */
  conn: number;
}

interface Held {
  req: http.IncomingMessage;
  res: http.ServerResponse;
}

/** A container's HTTP server: answers `<id>:<method>:<url>`, or holds GETs while `hold` is set. */
class Backend {
  readonly arrivals: Arrival[] = [];
  readonly held: Held[] = [];
  hold = false;
  private conns = 0;
  private readonly connOf = new WeakMap<net.Socket, number>();
  readonly server: http.Server;

  constructor(readonly id: string) {
    this.server = http.createServer((req, res) => {
      this.arrivals.push({ method: req.method!, url: req.url!, conn: this.connOf.get(req.socket)! });
      req.resume();
      req.once('end', () => {
        if (this.hold && req.method === 'GET') this.held.push({ req, res });
        else this.answer(req, res);
      });
    });
    this.server.on('connection', (s: net.Socket) => this.connOf.set(s, ++this.conns));
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`${this.id}:${req.method}:${req.url}`);
  }

  /** Answers the held GETs in their order of arrival. */
  release(): void {
    this.hold = false;
    for (const h of this.held.splice(0)) this.answer(h.req, h.res);
  }

  /** Closes the connections the held GETs came on, unanswered; answers at once from now on. */
  breakHeld(): void {
    this.hold = false;
    for (const h of this.held.splice(0)) h.req.socket.destroy();
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }
}

describe('pipelining to direct containers (--upstream-pipelining 4)', () => {
  let b: BalancerApp;
  const h = new Backend('h');
  const n = new Backend('n');
  const links: ContainerLink[] = [];
  const retries = async () =>
    Number(/balancer_retries_total\{service="pipe"\} (\d+)/.exec(await metrics())?.[1] ?? 0);
  const metrics = async () => (await fetch(`${b.url}/metrics`)).text();
  const get = async (path: string) => {
    const r = await fetch(`${b.url}/svc/pipe${path}`);
    return { status: r.status, container: r.headers.get('x-container-id'), body: await r.text() };
  };

  beforeAll(async () => {
    b = await startBalancer(systemClock, { upstreamPipelining: 4 });
    for (const s of [h, n]) {
      await new Promise<void>((r) => s.server.listen(0, HOST, r));
      const link = await linkDirect(b, {
        id: s.id,
        service: 'pipe',
        capacity: 100,
        address: `${HOST}:${s.port}`,
      });
      links.push(link);
    }
    await waitForQueue(b, ['h', 'n'], 'pipe');
  });
  afterAll(async () => {
    h.release();
    n.release();
    await Promise.all(links.map((l) => l.stop()));
    await b.stop();
    await Promise.all([h, n].map((s) => new Promise((r) => s.server.close(r))));
  });
  beforeEach(() => {
    // every request to `h`: `n` takes none until a test lets it
    b.table.setDrain('n', true);
  });

  /**
   * `count` GETs held at `h`: the first alone, the others once it is under way. undici defers a request on an idle
   * keep-alive connection by one turn of the event loop (it first checks the socket for unsolicited bytes) and
   * meanwhile sends others on new connections; once one is in flight on a connection, the next ones join it.
   */
  async function holdPipeline(prefix: string, count: number) {
    h.hold = true;
    const first = get(`${prefix}/1`);
    await waitFor('the first GET held at h', () => h.held.length === 1);
    const rest = Array.from({ length: count - 1 }, (_, i) => get(`${prefix}/${i + 2}`));
    await waitFor(`${count} GETs held at h`, () => h.held.length === count);
    const conn = h.arrivals.find((a) => a.url === `${prefix}/1`)!.conn;
    return { answers: [first, ...rest], conn };
  }

  it('sends idempotent requests pipelined on one connection, counts each in flight, answers each its own', async () => {
    const { answers, conn } = await holdPipeline('/p', 4);
    // all four on the connection the first GET opened: without pipelining each would need a connection of its own
    expect(h.arrivals.slice(-4).map((a) => a.conn)).toEqual([conn, conn, conn, conn]);
    expect(b.table.get('h')!.inFlight).toBe(4);
    h.release();
    const got = await Promise.all(answers);
    expect(got).toEqual([1, 2, 3, 4].map((i) => ({ status: 200, container: 'h', body: `h:GET:/p/${i}` })));
    await waitFor('in flight back to 0', () => b.table.get('h')?.inFlight === 0);
  });

  it('never queues a POST behind pipelined GETs: it goes on a connection of its own and is answered first', async () => {
    const { answers: gets, conn } = await holdPipeline('/q', 2);
    expect(h.arrivals.slice(-2).map((a) => a.conn)).toEqual([conn, conn]);
    // answered while both GETs still wait: undici alone would keep it queued on their connection until they end
    const post = await fetch(`${b.url}/svc/pipe/post`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(200);
    expect(await post.text()).toBe('h:POST:/post');
    expect(h.held.length).toBe(2);
    const postConn = h.arrivals.find((a) => a.method === 'POST')!.conn;
    expect(postConn).not.toBe(conn);
    // nothing else ever arrived on the POST's connection
    expect(h.arrivals.filter((a) => a.conn === postConn).map((a) => a.method)).toEqual(['POST']);
    h.release();
    expect((await Promise.all(gets)).map((r) => r.body)).toEqual(['h:GET:/q/1', 'h:GET:/q/2']);
  });

  it('a connection closed mid-pipeline: its head is retried on the next container, the rest sent again, none lost', async () => {
    const before = await retries();
    const { answers, conn } = await holdPipeline('/r', 4);
    expect(h.arrivals.slice(-4).map((a) => a.conn)).toEqual([conn, conn, conn, conn]);
    b.table.setDrain('n', false);
    h.breakHeld();
    const got = await Promise.all(answers);
    // every client answered with its own request's answer, from one container or the other
    expect(got.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    for (const [i, r] of got.entries()) expect(r.body).toBe(`${r.container}:GET:/r/${i + 1}`);
    // the head of the pipeline failed (a reset: idempotent, so tried on the next container) ...
    expect(got[0]!.container).toBe('n');
    expect(await retries()).toBe(before + 1);
    // ... and undici sent the three behind it to h again on a new connection
    for (const i of [2, 3, 4]) expect(h.arrivals.filter((a) => a.url === `/r/${i}`).length).toBe(2);
    await waitFor(
      'in flight back to 0',
      () => b.table.get('h')?.inFlight === 0 && b.table.get('n')?.inFlight === 0,
    );
  });
});

describe("per container: meta.pipelining (the container's own declaration wins over the flag)", () => {
  let b: BalancerApp;
  /** declares 4 on a balancer at the default depth 1; declares 1 on one at depth 4 (two balancers) */
  const four = new Backend('four');
  const one = new Backend('one');
  let b4: BalancerApp;
  const links: ContainerLink[] = [];

  const heldConnections = async (app: BalancerApp, s: Backend, service: string, count: number) => {
    s.hold = true;
    const get = (i: number) => fetch(`${app.url}/svc/${service}/m/${i}`).then((r) => r.text());
    // the first alone (undici defers a request on an idle connection by a turn), the others once it is under way
    const answers = [get(1)];
    await waitFor(`the first GET held at ${s.id}`, () => s.held.length === 1);
    for (let i = 2; i <= count; i++) answers.push(get(i));
    await waitFor(`${count} GETs held at ${s.id}`, () => s.held.length === count);
    const conns = s.arrivals.slice(-count).map((a) => a.conn);
    s.release();
    expect(await Promise.all(answers)).toEqual(
      Array.from({ length: count }, (_, i) => `${s.id}:GET:/m/${i + 1}`),
    );
    return conns;
  };

  beforeAll(async () => {
    b = await startBalancer(systemClock, {}); // --upstream-pipelining 1 (the default)
    b4 = await startBalancer(systemClock, { upstreamPipelining: 4 });
    for (const [app, s, pipelining] of [
      [b, four, '4'],
      [b4, one, '1'],
    ] as const) {
      await new Promise<void>((r) => s.server.listen(0, HOST, r));
      links.push(
        await linkDirect(app, {
          id: s.id,
          service: 'decl',
          capacity: 100,
          address: `${HOST}:${s.port}`,
          meta: { pipelining },
        }),
      );
      await waitForQueue(app, [s.id], 'decl');
    }
  });
  afterAll(async () => {
    four.release();
    one.release();
    await Promise.all(links.map((l) => l.stop()));
    await Promise.all([b.stop(), b4.stop()]);
    await Promise.all([four, one].map((s) => new Promise((r) => s.server.close(r))));
  });

  it('a container that declares 4 gets its GETs pipelined on one connection from a balancer at depth 1', async () => {
    expect(b.table.get('four')?.pipelining).toBe(4);
    // the control API shows the declaration
    const listed = (await (await fetch(`${b.url}/v1/services`)).json()) as {
      services: Array<{ service: string; containers: Array<{ id: string; pipelining: number | null }> }>;
    };
    expect(listed.services.find((x) => x.service === 'decl')?.containers).toMatchObject([
      { id: 'four', pipelining: 4 },
    ]);
    const conns = await heldConnections(b, four, 'decl', 4);
    expect(new Set(conns).size).toBe(1);
  });

  it('a container that declares 1 gets one request per connection from a balancer at depth 4', async () => {
    expect(b4.table.get('one')?.pipelining).toBe(1);
    const conns = await heldConnections(b4, one, 'decl', 3);
    expect(new Set(conns).size).toBe(3);
  });
});

describe('--upstream-pipelining', () => {
  it('is off by default (1) and accepts 1 to 128, naming the field otherwise', () => {
    const parse = (over: Record<string, unknown>) => () =>
      BalancerSettings.parse({ registrationToken: REG_TOKEN, ...over });
    expect(parse({})().upstreamPipelining).toBe(1);
    expect(parse({ upstreamPipelining: 128 })().upstreamPipelining).toBe(128);
    for (const bad of [0, 129])
      expect(thrownBy(parse({ upstreamPipelining: bad }), ConfigError).field).toBe('upstreamPipelining');
  });
});
