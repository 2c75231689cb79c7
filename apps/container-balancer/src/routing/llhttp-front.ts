/**
 * The proxy's front on `node:net` (`--proxy-front llhttp`): requests parsed by Node's own llhttp binding
 * (`HTTPParser` of the internal module `_http_common`, the parser `node:http` itself uses, strict: no lenient
 * flag, the same head limit), answered by writing status line, headers and body straight to the socket. No
 * IncomingMessage, ServerResponse, header object or stream per request: Node's `http` server costs about 40 µs of
 * user CPU per request here (docs/container-balancer.md), more than the rest of the proxy.
 *
 * The parser reads from the socket's handle in C++ (`parser.consume`, as `node:http` does): no `Buffer` event per
 * read in JavaScript. Requests outside `/svc/` (control API, /metrics, allocations) are buffered and handed to
 * fastify's `inject` on the same connection; their answers are small.
 *
 * Per connection, answers leave in request order (HTTP/1.1 pipelining): the exchange at the head writes to the
 * socket, those behind it buffer their bytes until their turn.
 */
import { createRequire } from 'node:module';
import net from 'node:net';
import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
import type { Counter } from 'prom-client';
import type { Clock, TimerHandle } from '@switchyard/core';
import { BalancerError, STATUS, type BalancerErrorCode } from '../errors.js';
import type { BalancerMetrics } from '../metrics.js';
import type { ContainerView } from '../queues/container-table.js';
import type { ForwardCall, Forwarder, ForwardSink } from './forwarder.js';
import {
  contentLength,
  forwardHeaders,
  PROXY_PREFIX,
  responseHeaders,
  splitSvcUrl,
} from './proxy-handler.js';
import { IDEMPOTENT_METHODS } from './retry-policy.js';

/** The parts of Node 20's internal `HTTPParser` this front uses (lib/_http_common.js, src/node_http_parser.cc). */
interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  consume(handle: unknown): void;
  unconsume(): void;
  execute(data: Buffer): number | Error;
  finish(): number | Error | undefined;
  close(): void;
  free(): void;
  remove(): void;
  [k: number]: unknown;
}
interface LlhttpModule {
  HTTPParser: (new () => LlhttpParser) & {
    REQUEST: number;
    kOnMessageBegin: number;
    kOnHeaders: number;
    kOnHeadersComplete: number;
    kOnBody: number;
    kOnMessageComplete: number;
    kOnExecute: number;
    kLenientNone: number;
  };
  methods: string[];
}

/**
 * Loads Node's internal parser binding, or throws an error saying why this front cannot run (the module is
 * undocumented; its shape is the one of Node 20).
 */
export function loadLlhttp(load: (name: string) => unknown = createRequire(import.meta.url)): LlhttpModule {
  let mod: Partial<LlhttpModule> | undefined;
  try {
    mod = load('_http_common') as Partial<LlhttpModule>;
  } catch {
    mod = undefined;
  }
  const P = mod?.HTTPParser;
  const ok =
    typeof P === 'function' &&
    Array.isArray(mod!.methods) &&
    [
      P.kOnMessageBegin,
      P.kOnHeaders,
      P.kOnHeadersComplete,
      P.kOnBody,
      P.kOnMessageComplete,
      P.kOnExecute,
      P.REQUEST,
    ].every((k) => typeof k === 'number') &&
    typeof P.prototype.consume === 'function' &&
    typeof P.prototype.initialize === 'function';
  if (!ok)
    throw new Error(
      `--proxy-front llhttp needs Node's internal _http_common.HTTPParser (Node 20's API); this Node (${process.version}) does not have it: use --proxy-front node`,
    );
  return mod as LlhttpModule;
}

export interface FrontComponents {
  forwarder: Forwarder;
  metrics: BalancerMetrics;
  /** Times the request heads and whole requests (`headersTimeoutMs`, `requestTimeoutMs`). */
  clock: Clock;
  /** Answers a request outside /svc/ (fastify's inject). */
  fallback(req: {
    method: string;
    url: string;
    headers: Record<string, string>;
    body: Buffer | undefined;
    /** The client's address, as fastify's `request.ip` would have it. */
    remoteAddress: string;
  }): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>;
}

export interface FrontInit {
  retryAfterS: number;
  maxRetryBodyBytes: number;
  /** Largest request head (Node's default: 16 KiB); above it 431. */
  maxHeaderSize: number;
  /** A connection with nothing in flight and no bytes for this long is closed (Node's keepAliveTimeout: 5 s). */
  idleTimeoutMs: number;
  /**
   * A request head (first byte to the end of its headers) not complete within this is answered 408 and its
   * connection closed: node:http's `headersTimeout`, which the idle check alone does not give (a client trickling one
   * byte a second is never idle). Checked once a second, so a head may take up to a second longer.
   */
  headersTimeoutMs: number;
  /**
   * A whole request (first byte to the end of its body) not complete within this: node:http's `requestTimeout`
   * (a client trickling a body is never idle either). 408 when nothing of an answer can be on the way (no other
   * request in flight, no answer started), else the connection is only cut; closed either way, the container's
   * request aborted. 0: no limit. Checked with the heads, once a second.
   */
  requestTimeoutMs: number;
  /** Largest body of a request outside /svc/ (fastify's bodyLimit). */
  maxApiBodyBytes: number;
}

/** Why the front refused or cut a connection (`balancer_front_errors_total{reason}`). */
export type FrontErrorReason =
  | 'bad_request'
  | 'header_overflow'
  | 'upgrade'
  | 'api_body_too_large'
  | 'headers_timeout'
  | 'request_timeout';

interface ServiceCounters {
  ok: { inc(): void };
  error: { inc(): void };
}

const CRLF = '\r\n';
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
/** Small answers go out as one buffer (head and body copied together): one write, no writev. */
const JOIN_BELOW = 16 * 1024;

function errorBody(err: BalancerError): Buffer {
  return Buffer.from(JSON.stringify({ code: err.code, message: err.message }));
}

/** One request on a connection and its answer; its bytes wait in `held` until it is the connection's head. */
class Exchange implements ForwardSink {
  call: ForwardCall | undefined;
  next: Exchange | undefined;
  /** Bytes written before this exchange's turn. */
  private held: (Buffer | string)[] | undefined;
  private heldBytes = 0;
  private paused: (() => void) | undefined;
  /** The head, kept until the first body chunk or the end (one write for both). */
  private head: string | undefined;
  headSent = false;
  done = false;
  private chunked = false;
  private bodyless: boolean;
  private whole = -1;
  /** The request body stream (non-idempotent requests with a body), fed by the parser. */
  body: Readable | undefined;
  /** Buffered request body (idempotent requests, requests outside /svc/). */
  chunks: Buffer[] | undefined;
  size = 0;
  refused = false;
  /** Called when the request's body is complete (buffered requests). */
  complete: (() => void) | undefined;
  /** Feeds a streamed request body (non-idempotent requests). */
  pushBody: ((b: Buffer) => void) | undefined;
  /** A request outside /svc/ (answered by fastify). */
  api = false;

  constructor(
    readonly conn: Conn,
    readonly service: string,
    readonly method: string,
    readonly idempotent: boolean,
    /** The connection stays open after this answer. */
    public keepAlive: boolean,
    /** HTTP/1.0 client: no chunked encoding. */
    readonly http10: boolean,
  ) {
    this.bodyless = method === 'HEAD';
  }

  /** Bytes to the client, in order: straight to the socket at the head, else held. False: wait for `drain`. */
  emit(data: Buffer | string, encoding?: BufferEncoding): boolean {
    if (this.conn.head === this) {
      return encoding ? this.conn.socket.write(data, encoding) : this.conn.socket.write(data);
    }
    (this.held ??= []).push(typeof data === 'string' ? Buffer.from(data, encoding) : data);
    this.heldBytes += data.length;
    return this.heldBytes < 64 * 1024;
  }

  /** It became the connection's head: its held bytes go out. */
  flush(): void {
    const held = this.held;
    this.held = undefined;
    this.heldBytes = 0;
    if (held) {
      const s = this.conn.socket;
      s.cork();
      for (const b of held) s.write(b);
      s.uncork();
    }
    const p = this.paused;
    this.paused = undefined;
    p?.();
  }

  onHeaders(container: ContainerView, status: number, headers: string[], resume: () => void): void {
    const { front } = this.conn;
    if (!this.idempotent && (status === 502 || status === 503))
      front.metrics.notRetried.inc({ service: this.service });
    const counters = front.countersFor(this.service);
    (status >= 500 ? counters.error : counters.ok).inc();
    const out = responseHeaders(headers);
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}${CRLF}`;
    for (let i = 0; i < out.length; i += 2) head += `${out[i]}: ${out[i + 1]}${CRLF}`;
    head += `x-container-id: ${container.id}${CRLF}`;
    if (status === 204 || status === 304 || status < 200) this.bodyless = true;
    this.whole = contentLength(headers);
    let close = !this.keepAlive;
    if (!this.bodyless && this.whole < 0) {
      if (this.http10)
        close = true; // the body runs until the close
      else {
        this.chunked = true;
        head += `transfer-encoding: chunked${CRLF}`;
      }
    }
    if (close) this.conn.closeAfterThis(this);
    head += close
      ? `connection: close${CRLF}${CRLF}`
      : this.http10
        ? `connection: keep-alive${CRLF}${CRLF}`
        : CRLF;
    this.head = head;
    this.headSent = true;
    this.resumeUpstream = resume;
  }

  private resumeUpstream: (() => void) | undefined;

  onData(chunk: Buffer): boolean {
    if (this.bodyless || chunk.length === 0) return true;
    let ok: boolean;
    const head = this.head;
    this.head = undefined;
    if (this.chunked) {
      const s = this.conn.head === this ? this.conn.socket : undefined;
      s?.cork();
      if (head !== undefined) this.emit(head, 'latin1');
      this.emit(`${chunk.length.toString(16)}${CRLF}`, 'latin1');
      this.emit(chunk);
      ok = this.emit(CRLF, 'latin1');
      s?.uncork();
    } else if (head !== undefined && chunk.length < JOIN_BELOW) {
      const n = Buffer.byteLength(head, 'latin1');
      const b = Buffer.allocUnsafe(n + chunk.length);
      b.write(head, 0, 'latin1');
      chunk.copy(b, n);
      ok = this.emit(b);
    } else {
      if (head !== undefined) this.emit(head, 'latin1');
      ok = this.emit(chunk);
    }
    if (ok) return true;
    this.waitDrain();
    return false;
  }

  private waitDrain(): void {
    const resume = this.resumeUpstream!;
    if (this.conn.head === this) this.conn.socket.once('drain', resume);
    else this.paused = resume;
  }

  onEnd(): void {
    if (this.done) return;
    const head = this.head;
    this.head = undefined;
    if (head !== undefined) {
      if (this.chunked) {
        const n = Buffer.byteLength(head, 'latin1');
        const b = Buffer.allocUnsafe(n + LAST_CHUNK.length);
        b.write(head, 0, 'latin1');
        LAST_CHUNK.copy(b, n);
        this.emit(b);
      } else this.emit(head, 'latin1');
    } else if (this.chunked) this.emit(LAST_CHUNK);
    this.finish();
  }

  onError(err: BalancerError): void {
    if (this.done) return;
    if (this.headSent && this.head === undefined) {
      // the body broke after bytes of it went out: the client can only learn it from the connection closing
      this.done = true;
      this.conn.socket.destroy();
      return;
    }
    this.head = undefined;
    this.headSent = false;
    this.conn.front.countFailure(this.service, err);
    this.sendError(err);
  }

  /** A balancer error as this exchange's whole answer (JSON). */
  sendError(err: BalancerError): void {
    const extra = err.code === 'BAL_ERR_NO_CONTAINER' ? [`retry-after: ${this.conn.front.retryAfterS}`] : [];
    this.sendWhole(
      STATUS[err.code],
      ['content-type: application/json; charset=utf-8', ...extra],
      errorBody(err),
    );
  }

  /** A whole answer with a Content-Length. */
  sendWhole(status: number, headers: string[], body: Buffer): void {
    if (this.done) return;
    if (!this.keepAlive) this.conn.closeAfterThis(this);
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}${CRLF}`;
    for (const h of headers) head += `${h}${CRLF}`;
    head += `content-length: ${body.length}${CRLF}`;
    head += !this.keepAlive
      ? `connection: close${CRLF}${CRLF}`
      : this.http10
        ? `connection: keep-alive${CRLF}${CRLF}`
        : CRLF;
    this.headSent = true;
    const n = Buffer.byteLength(head, 'latin1');
    const out = Buffer.allocUnsafe(n + (this.bodyless ? 0 : body.length));
    out.write(head, 0, 'latin1');
    if (!this.bodyless) body.copy(out, n);
    this.emit(out);
    this.finish();
  }

  private finish(): void {
    this.done = true;
    this.conn.finished(this);
  }
}

/** One client connection: its parser, the exchanges answering on it (a list in request order), its state. */
class Conn {
  head: Exchange | undefined;
  tail: Exchange | undefined;
  /** The request being parsed (its body goes here). */
  current: Exchange | undefined;
  /** No new request is taken: the connection ends once the answers in flight are out. */
  closing = false;
  /** The exchange whose answer, once out, ends the connection (Connection: close, a body until the close). */
  private closeAfter: Exchange | undefined;
  private closed = false;
  /** The client's address, read once. */
  ip: string | undefined;
  /** When the head being parsed began (clock ms); 0: no head in progress. */
  headSince = 0;
  /** When the request being received began (clock ms); 0: none in progress (its body is in, or none began). */
  requestSince = 0;

  constructor(
    readonly front: LlhttpFront,
    readonly socket: net.Socket,
    readonly parser: LlhttpParser,
  ) {}

  add(ex: Exchange): void {
    if (this.tail) this.tail.next = ex;
    else this.head = ex;
    this.tail = ex;
  }

  closeAfterThis(ex: Exchange): void {
    this.closing = true;
    this.closeAfter ??= ex;
  }

  /** `ex`'s answer is complete (written or held): the next exchange's turn, or the end of the connection. */
  finished(ex: Exchange): void {
    if (ex !== this.head) return;
    let h: Exchange | undefined = ex;
    while (h?.done) {
      if (h === this.closeAfter) {
        // nothing after this answer may reach the client
        for (let r = h.next; r; r = r.next) {
          r.done = true;
          r.call?.abort();
          r.body?.destroy();
        }
        this.head = this.tail = undefined;
        this.end();
        return;
      }
      h = h.next;
      this.head = h;
      h?.flush();
    }
    if (!h) {
      this.tail = undefined;
      if (this.closing) this.end();
    }
  }

  /** No more requests: the socket ends after the answers in flight (now if none). */
  drain(): void {
    this.closing = true;
    if (this.head === undefined) this.end();
  }

  /** The socket closes once the bytes written are out (as node:http after `Connection: close`). */
  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroySoon();
  }

  /** The client went away: every call still answering on it is stopped. */
  aborted(): void {
    this.closed = true;
    for (let h = this.head; h; h = h.next) {
      h.done = true;
      h.call?.abort();
      h.body?.destroy();
    }
    this.head = this.tail = this.current = undefined;
  }

  /** Nothing in flight on it. */
  idle(): boolean {
    return this.head === undefined;
  }
}

export class LlhttpFront {
  readonly server: net.Server;
  private readonly llhttp: LlhttpModule;
  private readonly conns = new Set<Conn>();
  private readonly bound = new Map<string, ServiceCounters>();
  private readonly frontErrors: Counter<'reason'>;
  readonly metrics: BalancerMetrics;
  readonly retryAfterS: number;
  private stopping = false;
  private sweeper: TimerHandle | undefined;

  constructor(
    private readonly components: FrontComponents,
    private readonly init: FrontInit,
  ) {
    this.llhttp = loadLlhttp();
    this.metrics = components.metrics;
    this.frontErrors = components.metrics.frontErrors;
    this.retryAfterS = init.retryAfterS;
    // half-open: a client that ends its side still gets the answers in flight (as node:http)
    this.server = net.createServer({ noDelay: true, allowHalfOpen: true }, (s) => this.accept(s));
  }

  listen(host: string, port: number): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port }, () => {
        this.server.off('error', reject);
        this.sweeper ??= this.components.clock.setInterval(() => this.expireSlow(), 1000);
        resolve(this.server.address() as net.AddressInfo);
      });
    });
  }

  /** Stops accepting; idle connections close now, busy ones after their answers. */
  close(): Promise<void> {
    this.stopping = true;
    this.components.clock.clearInterval(this.sweeper);
    this.sweeper = undefined;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.conns) c.drain();
    return closed;
  }

  /**
   * Connections whose request head has taken longer than `headersTimeoutMs`, or whose whole request longer than
   * `requestTimeoutMs`: 408 when no other answer can be on the way, closed.
   */
  expireSlow(): void {
    const now = this.components.clock.now();
    const limit = now - this.init.headersTimeoutMs;
    const requestLimit = this.init.requestTimeoutMs > 0 ? now - this.init.requestTimeoutMs : -Infinity;
    for (const c of this.conns) {
      if (c.requestSince !== 0 && c.requestSince <= requestLimit) {
        this.expireRequest(c);
        continue;
      }
      if (c.headSince === 0 || c.headSince > limit) continue;
      c.headSince = c.requestSince = 0; // cut once: a later sweep before its close must not count it again
      this.frontErrors.inc({ reason: 'headers_timeout' });
      // behind answers still in flight a 408 would be taken for theirs: then the connection is only cut
      if (c.idle())
        c.socket.end('HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      c.aborted();
      c.socket.destroySoon();
    }
  }

  /** A request still arriving past `requestTimeoutMs` (its head may be in, its body not). */
  private expireRequest(c: Conn): void {
    c.requestSince = c.headSince = 0;
    this.frontErrors.inc({ reason: 'request_timeout' });
    // the request being received, alone on the connection with nothing of its answer out, may be answered 408
    const cur = c.current;
    const alone =
      c.idle() || (cur !== undefined && c.head === cur && cur.next === undefined && !cur.headSent);
    c.aborted(); // the container's request, if one was sent, is aborted (its in-flight count freed)
    if (alone) c.socket.end('HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    c.socket.destroySoon();
  }

  countersFor(service: string): ServiceCounters {
    let c = this.bound.get(service);
    if (!c) {
      const { requests } = this.metrics;
      c = {
        ok: requests.labels({ service, outcome: 'ok' }),
        error: requests.labels({ service, outcome: 'error' }),
      };
      this.bound.set(service, c);
    }
    return c;
  }

  countFailure(service: string, err: BalancerError): void {
    this.metrics.errors.inc({ service, code: err.code });
    this.metrics.requests.inc({ service, outcome: 'error' });
  }

  private accept(socket: net.Socket): void {
    const { HTTPParser } = this.llhttp;
    const parser = new HTTPParser();
    parser.initialize(HTTPParser.REQUEST, {}, this.init.maxHeaderSize, HTTPParser.kLenientNone);
    const conn = new Conn(this, socket, parser);
    this.conns.add(conn);
    let headers: string[] = [];
    let url = '';
    const clock = this.components.clock;
    parser[HTTPParser.kOnMessageBegin] = () => {
      // after Connection: close the bytes that follow are dropped, never timed (the answer in flight is not cut)
      if (!conn.closing) conn.headSince = conn.requestSince = clock.now();
      return 0;
    };
    parser[HTTPParser.kOnHeaders] = (h: string[], u: string) => {
      for (const x of h) headers.push(x);
      url += u;
    };
    parser[HTTPParser.kOnHeadersComplete] = (
      major: number,
      minor: number,
      h: string[] | undefined,
      method: number,
      u: string | undefined,
      _status: unknown,
      _statusMessage: unknown,
      upgrade: boolean,
      keepAlive: boolean,
    ) => {
      conn.headSince = 0;
      const raw = h ?? headers;
      const path = u ?? url;
      headers = [];
      url = '';
      this.request(
        conn,
        this.llhttp.methods[method]!,
        path,
        raw,
        major === 1 && minor === 0,
        keepAlive,
        upgrade,
      );
      return 0;
    };
    parser[HTTPParser.kOnBody] = (b: Buffer) => this.body(conn, b);
    parser[HTTPParser.kOnMessageComplete] = () => this.messageComplete(conn);
    parser[HTTPParser.kOnExecute] = (ret: number | Error) => {
      (socket as { _unrefTimer?: () => void })._unrefTimer?.(); // activity: the idle timer starts again
      if (ret instanceof Error) this.parseError(conn, ret);
    };
    socket.setTimeout(this.init.idleTimeoutMs);
    socket.on('timeout', () => {
      if (conn.idle()) socket.destroy();
      else socket.setTimeout(this.init.idleTimeoutMs); // busy (a long answer): look again after another period
    });
    socket.on('error', () => undefined);
    socket.on('end', () => {
      // the client closed its side: as node:http (httpAllowHalfOpen off), what is in flight is aborted
      conn.aborted();
      socket.end();
    });
    socket.on('close', () => {
      this.conns.delete(conn);
      conn.aborted();
      // as node:http's freeParser: released after the current parser callback has returned
      setImmediate(() => {
        try {
          if (consumed) parser.unconsume();
        } catch {
          // the handle is gone already
        }
        parser.remove();
        parser.close();
      });
    });
    const handle = (socket as { _handle?: { isStreamBase?: boolean } })._handle;
    const consumed = handle?.isStreamBase === true;
    if (consumed) parser.consume(handle);
    else
      socket.on('data', (d: Buffer) => {
        const r = parser.execute(d);
        if (r instanceof Error) this.parseError(conn, r);
      });
  }

  private request(
    conn: Conn,
    method: string,
    url: string,
    raw: string[],
    http10: boolean,
    keepAlive: boolean,
    upgrade: boolean,
  ): void {
    if (conn.closing) {
      // after `Connection: close` (or an error) nothing more is answered
      conn.current = undefined;
      return;
    }
    const svc = url.startsWith(PROXY_PREFIX);
    const service = svc ? splitSvcUrl(url).service : '';
    const ex = new Exchange(conn, service, method, false, keepAlive && !upgrade && !this.stopping, http10);
    conn.add(ex);
    conn.current = ex;
    if (!ex.keepAlive) conn.closing = true; // no request after this one is taken
    if (upgrade) {
      // CONNECT and Upgrade are not proxied: refused, and the connection closed (its bytes are no longer HTTP)
      this.frontErrors.inc({ reason: 'upgrade' });
      ex.keepAlive = false;
      ex.sendWhole(
        501,
        ['content-type: application/json; charset=utf-8'],
        Buffer.from(
          JSON.stringify({
            code: 'BAL_ERR_BAD_REQUEST',
            message: `${method === 'CONNECT' ? 'CONNECT' : 'Upgrade'} is not supported by the proxy`,
          }),
        ),
      );
      conn.current = undefined;
      return;
    }
    let expectContinue = false;
    for (let i = 0; i < raw.length; i += 2)
      if (
        raw[i]!.length === 6 &&
        raw[i]!.toLowerCase() === 'expect' &&
        raw[i + 1]!.toLowerCase() === '100-continue'
      )
        expectContinue = true;
    if (expectContinue && !http10) ex.emit(CONTINUE); // as node:http does without a checkContinue listener
    if (!svc) return this.api(ex, method, url, raw);
    const { service: s, path } = splitSvcUrl(url);
    if (s.length === 0) {
      this.refuse(ex, s, 'BAL_ERR_BAD_REQUEST', 'the path must be /svc/<service>/<path>');
      ex.chunks = undefined;
      return;
    }
    const { headers, idempotencyKey, framed } = forwardHeaders(raw, {
      ip: (conn.ip ??= conn.socket.remoteAddress ?? ''), // a getpeername call: once per connection
      proto: 'http',
      prefix: `${PROXY_PREFIX}${s}`,
    });
    const idempotent = idempotencyKey || IDEMPOTENT_METHODS.has(method);
    (ex as { idempotent: boolean }).idempotent = idempotent;
    const hasBody = framed && method !== 'GET' && method !== 'HEAD';
    const send = (body: Buffer | Readable | undefined) => {
      if (ex.done) return;
      ex.call = this.components.forwarder.dispatch(
        { service: s, method, path, headers, ...(body !== undefined ? { body } : {}), idempotent },
        ex,
      );
    };
    if (!hasBody) return send(undefined);
    if (!idempotent) {
      // streamed once, never buffered; the socket stops reading while undici does not take more
      const handle = (conn.socket as { _handle?: { readStop(): void; readStart(): void } })._handle;
      let stopped = false;
      ex.body = new Readable({
        read() {
          if (stopped) {
            stopped = false;
            handle?.readStart();
          }
        },
      });
      ex.pushBody = (b) => {
        if (!ex.body!.push(b) && !stopped) {
          stopped = true;
          handle?.readStop();
        }
      };
      ex.complete = () => ex.body!.push(null);
      return send(ex.body);
    }
    ex.chunks = [];
    ex.complete = () => {
      if (!ex.refused) send(Buffer.concat(ex.chunks!));
      ex.chunks = undefined;
    };
  }

  private refuse(ex: Exchange, service: string, code: BalancerErrorCode, message: string): void {
    const err = new BalancerError(code, message);
    this.countFailure(service, err);
    ex.sendError(err);
  }

  /** A request outside /svc/: its body buffered, then fastify answers it (inject). */
  private api(ex: Exchange, method: string, url: string, raw: string[]): void {
    ex.api = true;
    const headers: Record<string, string> = {};
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!.toLowerCase();
      headers[k] = headers[k] === undefined ? raw[i + 1]! : `${headers[k]}, ${raw[i + 1]!}`;
    }
    ex.chunks = [];
    ex.complete = () => {
      const chunks = ex.chunks!;
      ex.chunks = undefined;
      if (ex.refused) return;
      const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
      this.components
        .fallback({
          method,
          url,
          headers,
          body,
          remoteAddress: (ex.conn.ip ??= ex.conn.socket.remoteAddress ?? ''),
        })
        .then(
          (r) => {
            const out: string[] = [];
            for (const [k, v] of Object.entries(r.headers)) {
              const lk = k.toLowerCase();
              if (
                lk === 'content-length' ||
                lk === 'transfer-encoding' ||
                lk === 'connection' ||
                lk === 'keep-alive'
              )
                continue;
              for (const one of Array.isArray(v) ? v : [v]) out.push(`${k}: ${String(one)}`);
            }
            ex.sendWhole(r.status, out, r.body);
          },
          () =>
            ex.sendWhole(
              STATUS.BAL_ERR_INTERNAL,
              ['content-type: application/json; charset=utf-8'],
              errorBody(new BalancerError('BAL_ERR_INTERNAL', 'internal error')),
            ),
        );
    };
  }

  private body(conn: Conn, b: Buffer): void {
    const ex = conn.current;
    if (!ex || ex.done) return;
    if (ex.pushBody) return ex.pushBody(b);
    if (!ex.chunks || ex.refused) return;
    ex.size += b.length;
    const limit = ex.api ? this.init.maxApiBodyBytes : this.init.maxRetryBodyBytes;
    if (ex.size > limit) {
      ex.refused = true;
      ex.chunks = [];
      if (ex.api) {
        this.frontErrors.inc({ reason: 'api_body_too_large' });
        ex.sendWhole(
          413,
          ['content-type: application/json; charset=utf-8'],
          Buffer.from(
            JSON.stringify({ code: 'BAL_ERR_BAD_REQUEST', message: `a body is limited to ${limit} bytes` }),
          ),
        );
      } else
        this.refuse(
          ex,
          ex.service,
          'BAL_ERR_BAD_REQUEST',
          `a retryable body is limited to ${this.init.maxRetryBodyBytes} bytes`,
        );
      return;
    }
    ex.chunks.push(b);
  }

  private messageComplete(conn: Conn): void {
    conn.requestSince = 0;
    const ex = conn.current;
    conn.current = undefined;
    ex?.complete?.();
  }

  /** The request could not be parsed: 431 or 400 after the answers before it, then the connection closes. */
  private parseError(conn: Conn, err: Error): void {
    const code = (err as { code?: string }).code;
    // bytes after a request that closes the connection (llhttp: HPE_CLOSED_CONNECTION): dropped, as they are ignored
    if (conn.closing && conn.current === undefined) return;
    const overflow = code === 'HPE_HEADER_OVERFLOW';
    this.frontErrors.inc({ reason: overflow ? 'header_overflow' : 'bad_request' });
    const cur = conn.current;
    conn.current = undefined;
    if (cur && !cur.done && (cur.call !== undefined || cur.headSent)) {
      // its body broke while it was being passed on: the client learns it from the connection closing
      conn.socket.destroy();
      return;
    }
    let ex = cur && !cur.done ? cur : undefined;
    if (ex) ex.refused = true;
    else {
      ex = new Exchange(conn, '', 'GET', false, false, false);
      conn.add(ex);
    }
    ex.keepAlive = false;
    conn.closing = true;
    ex.sendWhole(
      overflow ? 431 : 400,
      ['content-type: application/json; charset=utf-8'],
      Buffer.from(
        JSON.stringify({
          code: 'BAL_ERR_BAD_REQUEST',
          message: overflow
            ? `request head above ${this.init.maxHeaderSize} bytes`
            : `malformed request (${code ?? 'parse error'})`,
        }),
      ),
    );
  }
}
