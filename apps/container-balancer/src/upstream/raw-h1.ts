/**
 * A minimal HTTP/1.1 client on plain `net` sockets for the proxy's common case (`--upstream-client raw`): one
 * request at a time per keep-alive connection (no pipelining, so no head-of-line blocking), used only for
 * requests the retry policy calls idempotent whose body is absent or buffered. Everything else (POST, PATCH,
 * streamed bodies, pipelining) stays on undici (`direct-upstream.ts`).
 *
 * Why: under wrk the balancer's CPU per request was dominated by the two HTTP stacks (Node's server in front,
 * undici behind); undici's per-request `Request` object with header validation, its WASM llhttp driven from
 * JavaScript and the one-turn deferral of every request on an idle connection (its check for unsolicited bytes)
 * cost more than what a proxy of small keep-alive answers needs. Here a request is one string written in one
 * `write`, and a response head is found with `indexOf` and split in JavaScript.
 *
 * Response framing is strict and complete (RFC 9112 §6.3), never guessed: no body for HEAD, 1xx (skipped, 101
 * refused), 204 and 304; `Transfer-Encoding: chunked` (exactly that coding) decoded; `Content-Length` (digits
 * only, repeated values must agree); neither: read until the container closes. Both framings, any other
 * transfer coding, obs-fold, a bare CR or LF in the head, a malformed status line or header name, a head over
 * 16 KiB or bytes the container sends beyond the response (or on an idle connection) are errors: the
 * connection is closed and never reused, and the request fails as a `reset` before its headers (retried on
 * the next container: it is idempotent) or as a broken body after them.
 */
import net from 'node:net';
import type { Clock, TimerHandle } from '@switchyard/core';
import { UpstreamFailure, type UpstreamHandler, type UpstreamRequest } from './upstream.js';

/** Longest response head accepted (Node's own server default for request heads is 16 KiB as well). */
export const MAX_HEAD_BYTES = 16 * 1024;
/** Longest chunk-size line or trailer section of a chunked body. */
const MAX_CHUNK_LINE = 1024;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [^\r\n]*)?$/;
const DIGITS = /^\d{1,15}$/;
const HEX = /^[0-9A-Fa-f]{1,12}$/;
const CRLF2 = Buffer.from('\r\n\r\n');
const KEEP_ALIVE_TIMEOUT = /(?:^|[,;\s])timeout=(\d{1,6})/i;

/**
 * An idle connection is not reused after this long (ms) unless the container's `Keep-Alive: timeout=N` says
 * longer: a container closes idle connections on its side (Node's http server after 5 s), and a request written
 * on a connection it is closing at that moment would fail. undici's defaults, the same reasoning.
 */
export const IDLE_REUSE_MS = 4000;
/** How much earlier than the container's own `timeout=N` an idle connection stops being reused. */
const IDLE_MARGIN_MS = 1000;

/** Request headers the client frames itself: whatever the caller's list says under these names is dropped. */
const FRAMED = new Set(['content-length', 'transfer-encoding', 'host', 'expect', 'connection', 'keep-alive']);

/** Methods whose request carries a body: sent with `content-length: 0` when there is none (as undici does). */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

class Protocol extends Error {}

const enum Body {
  None,
  Length,
  Chunked,
  Close,
}

const enum Chunk {
  Size,
  Data,
  DataEnd,
  Trailer,
}

interface Pending {
  req: UpstreamRequest;
  handler: UpstreamHandler;
  aborted: boolean;
}

/** One keep-alive connection to the container; at most one exchange on it at a time. */
class Conn {
  readonly sock: net.Socket;
  connected = false;
  ex: Pending | undefined;
  private timer: TimerHandle | undefined;
  /** The exchange's response headers were passed on. */
  private answered = false;
  private head: Buffer | undefined;
  private body = Body.None;
  private left = 0;
  private chunk = Chunk.Size;
  private line = '';
  private keepAlive = true;
  private dead = false;
  /** When it went idle, and how long it may stay idle and still be reused (ms). */
  idleSince = 0;
  reuseMs = IDLE_REUSE_MS;
  private readonly resume = () => this.sock.resume();

  constructor(
    private readonly pool: RawH1Pool,
    host: string,
    port: number,
  ) {
    this.sock = net.connect({ host, port, noDelay: true });
    this.timer = pool.clock.setTimeout(
      () => this.kill(new UpstreamFailure('connect', 'upstream connect (timeout)')),
      pool.connectTimeoutMs,
    );
    this.sock.once('connect', () => {
      this.connected = true;
      this.pool.clock.clearTimeout(this.timer);
      this.timer = undefined;
      if (this.ex) this.send();
    });
    this.sock.on('data', (b: Buffer) => this.onBytes(b));
    this.sock.on('end', () => this.onEnd());
    this.sock.on('error', (err: NodeJS.ErrnoException) => {
      const kind = this.connected ? 'reset' : 'connect';
      this.kill(
        new UpstreamFailure(kind, `upstream ${kind}${err.code ? ` (${err.code})` : ''}`, { cause: err }),
      );
    });
    this.sock.on('close', () => this.kill(new UpstreamFailure('reset', 'upstream reset (closed)')));
  }

  /** Starts `p` on this connection (idle, or still connecting). */
  start(p: Pending): void {
    this.ex = p;
    this.answered = false;
    this.head = undefined;
    p.handler.onStart(() => {
      if (this.ex === p) this.kill(undefined);
    });
    if (this.dead) return; // aborted from onStart
    if (this.connected) this.send();
  }

  private send(): void {
    const { req } = this.ex!;
    let head = `${req.method} ${req.path} HTTP/1.1\r\nhost: ${this.pool.authority}\r\n`;
    const h = req.headers;
    for (let i = 0; i < h.length; i += 2) {
      const k = h[i]!;
      if (FRAMED.has(k)) continue;
      head += `${k}: ${h[i + 1]!}\r\n`;
    }
    const body = req.body as Buffer | undefined;
    if (body !== undefined) head += `content-length: ${body.length}\r\n\r\n`;
    else if (BODY_METHODS.has(req.method)) head += 'content-length: 0\r\n\r\n';
    else head += '\r\n';
    if (body !== undefined && body.length > 0) {
      this.sock.cork();
      this.sock.write(head, 'latin1');
      this.sock.write(body);
      this.sock.uncork();
    } else this.sock.write(head, 'latin1');
    this.timer = this.pool.clock.setTimeout(
      () => this.kill(new UpstreamFailure('timeout', 'upstream timeout (no response headers)')),
      req.timeoutMs,
    );
  }

  private onBytes(b: Buffer): void {
    if (this.dead) return;
    if (!this.ex) return this.kill(undefined); // unsolicited bytes on an idle connection: never reuse it
    try {
      this.parse(b);
    } catch (err) {
      if (!(err instanceof Protocol)) throw err;
      this.kill(new UpstreamFailure('reset', `upstream protocol error (${err.message})`));
    }
  }

  private parse(b: Buffer): void {
    let off = 0;
    while (off < b.length) {
      if (this.dead || !this.ex) break;
      if (!this.answered) {
        off = this.parseHead(b, off);
        if (off < 0) return; // head incomplete: kept
        if (!this.answered) continue; // a 1xx answer was skipped
        if (this.body === Body.None || (this.body === Body.Length && this.left === 0)) {
          if (off < b.length) throw new Protocol('bytes after the response');
          return this.complete();
        }
        continue;
      }
      off = this.parseBody(b, off);
    }
  }

  /** Returns the offset after the head, or -1 when it is not complete yet. */
  private parseHead(b: Buffer, off: number): number {
    let buf = off === 0 ? b : b.subarray(off);
    if (this.head !== undefined) buf = Buffer.concat([this.head, buf]);
    const end = buf.indexOf(CRLF2);
    if (end < 0) {
      if (buf.length > MAX_HEAD_BYTES) throw new Protocol('response head too large');
      this.head = Buffer.from(buf); // copy: the socket's buffer is not ours to keep
      return -1;
    }
    if (end > MAX_HEAD_BYTES) throw new Protocol('response head too large');
    const consumed = end + 4 - (this.head?.length ?? 0); // bytes of `b` from `off`
    this.head = undefined;
    const lines = buf.toString('latin1', 0, end).split('\r\n');
    const m = STATUS_LINE.exec(lines[0]!);
    if (!m) throw new Protocol('malformed status line');
    const status = Number(m[2]);
    const list: string[] = [];
    let length = -1;
    let chunked = false;
    let close = m[1] === '0';
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i]!;
      const colon = l.indexOf(':');
      if (colon <= 0) throw new Protocol('malformed header line');
      const name = l.slice(0, colon);
      if (!TOKEN.test(name)) throw new Protocol('malformed header name');
      const value = l.slice(colon + 1).trim();
      if (value.includes('\r') || value.includes('\n')) throw new Protocol('bare CR or LF in a header');
      list.push(name, value);
      if (name.length === 14 && name.toLowerCase() === 'content-length') {
        for (const part of value.split(',')) {
          const v = part.trim();
          if (!DIGITS.test(v)) throw new Protocol('malformed content-length');
          const n = Number(v);
          if (length >= 0 && n !== length) throw new Protocol('conflicting content-length');
          length = n;
        }
      } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') {
        if (chunked || value.toLowerCase() !== 'chunked') throw new Protocol('unsupported transfer-encoding');
        chunked = true;
      } else if (name.length === 10 && name.toLowerCase() === 'connection') {
        for (const part of value.split(',')) {
          const t = part.trim().toLowerCase();
          if (t === 'close') close = true;
          else if (t === 'keep-alive' && m[1] === '0') close = false;
        }
      } else if (name.length === 10 && name.toLowerCase() === 'keep-alive') {
        const t = KEEP_ALIVE_TIMEOUT.exec(value);
        if (t) this.reuseMs = Math.max(0, Number(t[1]) * 1000 - IDLE_MARGIN_MS);
      }
    }
    if (chunked && length >= 0) throw new Protocol('both content-length and transfer-encoding');
    const next = off + consumed;
    if (status < 200) {
      if (status === 101) throw new Protocol('unexpected 101 switching protocols');
      return next; // an interim answer: the final head follows (maybe in this read)
    }
    this.pool.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.keepAlive = !close;
    if (this.ex!.req.method === 'HEAD' || status === 204 || status === 304) this.body = Body.None;
    else if (chunked) {
      this.body = Body.Chunked;
      this.chunk = Chunk.Size;
      this.line = '';
    } else if (length >= 0) {
      this.body = Body.Length;
      this.left = length;
    } else {
      this.body = Body.Close;
      this.keepAlive = false;
    }
    this.answered = true;
    this.ex!.handler.onHeaders(status, list, this.resume);
    return next;
  }

  /** Passes body bytes on; returns the offset after what it consumed. */
  private parseBody(b: Buffer, off: number): number {
    const h = this.ex!.handler;
    switch (this.body) {
      case Body.Close:
        this.deliver(h, off === 0 ? b : b.subarray(off));
        return b.length;
      case Body.Length: {
        const n = Math.min(this.left, b.length - off);
        this.left -= n;
        this.deliver(h, off === 0 && n === b.length ? b : b.subarray(off, off + n));
        if (this.left === 0 && !this.dead) {
          if (off + n < b.length) throw new Protocol('bytes after the response');
          this.complete();
        }
        return off + n;
      }
      case Body.Chunked:
        return this.parseChunked(h, b, off);
      default:
        throw new Protocol('bytes after the response');
    }
  }

  private parseChunked(h: UpstreamHandler, b: Buffer, off: number): number {
    switch (this.chunk) {
      case Chunk.Data: {
        const n = Math.min(this.left, b.length - off);
        this.left -= n;
        this.deliver(h, b.subarray(off, off + n));
        if (this.left === 0) {
          this.chunk = Chunk.DataEnd;
          this.line = '';
        }
        return off + n;
      }
      case Chunk.DataEnd: {
        // the CRLF after a chunk's data, possibly split across reads
        while (off < b.length && this.line.length < 2) this.line += String.fromCharCode(b[off++]!);
        if (this.line.length < 2) return off;
        if (this.line !== '\r\n') throw new Protocol('malformed chunk end');
        this.chunk = Chunk.Size;
        this.line = '';
        return off;
      }
      default: {
        // a chunk-size line or a trailer line, up to its CRLF (possibly split across reads)
        const lf = b.indexOf(10, off);
        const upto = lf < 0 ? b.length : lf + 1;
        this.line += b.toString('latin1', off, upto);
        if (this.line.length > MAX_CHUNK_LINE) throw new Protocol('chunk line too long');
        if (lf < 0) return upto;
        if (!this.line.endsWith('\r\n') || this.line.indexOf('\r') !== this.line.length - 2)
          throw new Protocol('bare CR or LF in a chunked body');
        const text = this.line.slice(0, -2);
        this.line = '';
        if (this.chunk === Chunk.Trailer) {
          if (text.length === 0) {
            if (upto < b.length) throw new Protocol('bytes after the response');
            this.complete();
          } else if (text.indexOf(':') <= 0) throw new Protocol('malformed trailer');
          return upto; // trailers are not passed on (Node's server and undici's dispatch drop them too)
        }
        const semi = text.indexOf(';');
        const size = (semi < 0 ? text : text.slice(0, semi)).trim();
        if (!HEX.test(size)) throw new Protocol('malformed chunk size');
        this.left = parseInt(size, 16);
        this.chunk = this.left === 0 ? Chunk.Trailer : Chunk.Data;
        return upto;
      }
    }
  }

  private deliver(h: UpstreamHandler, chunk: Buffer): void {
    if (chunk.length === 0) return;
    // false: the client reads slower; the rest of this read is still passed on (Node's response buffers it),
    // and the socket is paused until the client drains
    if (!h.onData(chunk)) this.sock.pause();
  }

  private onEnd(): void {
    if (this.dead) return;
    if (this.ex && this.answered && this.body === Body.Close) {
      this.keepAlive = false;
      return this.complete();
    }
    this.kill(new UpstreamFailure('reset', 'upstream reset (closed by the container)'));
  }

  /** The response ended: the connection goes back to the pool, or is closed when it may not be reused. */
  private complete(): void {
    const p = this.ex!;
    this.ex = undefined;
    this.pool.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.keepAlive) {
      if (this.sock.isPaused()) this.sock.resume();
      p.handler.onComplete();
      if (!this.dead && !this.ex) this.pool.release(this);
    } else {
      this.dead = true;
      this.sock.destroy();
      this.pool.gone(this);
      p.handler.onComplete();
    }
  }

  /** Closes the connection; the exchange on it (if any) fails with `err` (none: it was aborted). */
  kill(err: UpstreamFailure | undefined): void {
    if (this.dead) return;
    this.dead = true;
    this.pool.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.sock.destroy();
    this.pool.gone(this);
    const p = this.ex;
    this.ex = undefined;
    if (p && err) {
      p.handler.onError(
        this.answered && err.kind !== 'timeout'
          ? new UpstreamFailure('reset', 'upstream body broke', { cause: err })
          : err,
      );
    }
  }
}

/**
 * Up to `connections` keep-alive connections to one container; requests beyond wait in FIFO order. The most
 * recently used idle connection is reused first (the others may time out on the container's side unused).
 */
export class RawH1Pool {
  readonly authority: string;
  private readonly host: string;
  private readonly port: number;
  private readonly idle: Conn[] = [];
  private readonly all = new Set<Conn>();
  private queue: Pending[] = [];
  private destroyed = false;

  constructor(
    address: string,
    readonly clock: Clock,
    private readonly init: { connections: number; connectTimeoutMs: number },
  ) {
    const colon = address.lastIndexOf(':');
    this.host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    this.port = Number(address.slice(colon + 1));
    this.authority = address;
  }

  get connectTimeoutMs(): number {
    return this.init.connectTimeoutMs;
  }

  /** Connections open (idle or busy). */
  get size(): number {
    return this.all.size;
  }

  dispatch(req: UpstreamRequest, handler: UpstreamHandler): void {
    if (this.destroyed) {
      handler.onStart(() => undefined);
      return handler.onError(new UpstreamFailure('connect', 'upstream connect (pool closed)'));
    }
    if (req.path.includes('\r') || req.path.includes('\n') || req.path.includes(' '))
      return handler.onError(new UpstreamFailure('connect', 'upstream request refused (bad path)'));
    for (let i = 1; i < req.headers.length; i += 2) {
      const v = req.headers[i]!;
      if (v.includes('\r') || v.includes('\n'))
        return handler.onError(new UpstreamFailure('connect', 'upstream request refused (bad header)'));
    }
    const p: Pending = { req, handler, aborted: false };
    const idle = this.takeIdle();
    if (idle) return idle.start(p);
    if (this.all.size < this.init.connections) {
      const c = new Conn(this, this.host, this.port);
      this.all.add(c);
      return c.start(p);
    }
    handler.onStart(() => (p.aborted = true));
    this.queue.push(p);
  }

  /** The most recently used idle connection that may still be reused; older ones are closed. */
  private takeIdle(): Conn | undefined {
    let c: Conn | undefined;
    let now = -1;
    while ((c = this.idle.pop()) !== undefined) {
      if (now < 0) now = this.clock.now();
      if (now - c.idleSince <= c.reuseMs) return c;
      c.kill(undefined); // idle too long: the container may be closing it
    }
    return undefined;
  }

  /** `c` finished its exchange and may be reused. */
  release(c: Conn): void {
    for (;;) {
      const p = this.queue.shift();
      if (!p) break;
      if (!p.aborted) return c.start(p);
    }
    c.idleSince = this.clock.now();
    this.idle.push(c);
  }

  /** `c` is closed: forgotten, and a waiting request gets a new connection. */
  gone(c: Conn): void {
    this.all.delete(c);
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    if (this.destroyed) return;
    while (this.queue.length > 0 && this.all.size < this.init.connections) {
      const p = this.queue.shift()!;
      if (p.aborted) continue;
      const n = new Conn(this, this.host, this.port);
      this.all.add(n);
      n.start(p);
    }
  }

  destroy(): Promise<void> {
    this.destroyed = true;
    const waiting = this.queue;
    this.queue = [];
    for (const c of [...this.all]) c.kill(new UpstreamFailure('connect', 'upstream connect (pool closed)'));
    for (const p of waiting)
      if (!p.aborted) p.handler.onError(new UpstreamFailure('connect', 'upstream connect (pool closed)'));
    return Promise.resolve();
  }
}
