/**
 * A reverse-mode container: the balancer is the HTTP/2 client on the connection the container dialed (the
 * container serves). Multiplexed streams, one session per container.
 */
import http2 from 'node:http2';
import type net from 'node:net';
import type { Clock } from '@switchyard/core';
import { UpstreamFailure, type Upstream, type UpstreamHandler, type UpstreamRequest } from './upstream.js';

export class ReverseUpstream implements Upstream {
  private readonly session: http2.ClientHttp2Session;
  private closed = false;
  /** Resolves when the session ends for any reason (the container is then dropped). */
  readonly ended: Promise<void>;

  /** The clock times the wait for response headers (a ManualClock in tests). */
  constructor(
    private readonly components: { clock: Clock },
    socket: net.Socket,
  ) {
    this.session = http2.connect('http://reverse.container', { createConnection: () => socket });
    this.ended = new Promise((resolve) => {
      this.session.once('close', () => {
        this.closed = true;
        resolve();
      });
    });
    this.session.on('error', () => undefined); // 'close' follows
    socket.resume();
  }

  dispatch(req: UpstreamRequest, handler: UpstreamHandler): void {
    if (this.closed || this.session.destroyed || this.session.closed)
      return handler.onError(new UpstreamFailure('connect', 'reverse session is closed'));
    let stream: http2.ClientHttp2Stream;
    try {
      stream = this.session.request(toHttp2Headers(req));
    } catch (err) {
      return handler.onError(
        new UpstreamFailure('connect', 'reverse session refused a new stream', { cause: err }),
      );
    }
    let answered = false;
    let over = false;
    const { clock } = this.components;
    const finish = (err?: UpstreamFailure) => {
      if (over) return;
      over = true;
      clock.clearTimeout(timer);
      if (err) handler.onError(err);
      else handler.onComplete();
    };
    const timer = clock.setTimeout(() => {
      if (answered) return;
      stream.close(http2.constants.NGHTTP2_CANCEL);
      finish(new UpstreamFailure('timeout', `no response headers within ${req.timeoutMs} ms`));
    }, req.timeoutMs);
    handler.onStart(() => {
      over = true;
      clock.clearTimeout(timer);
      stream.close(http2.constants.NGHTTP2_CANCEL);
    });
    stream.once('response', (headers) => {
      if (over) return;
      answered = true;
      clock.clearTimeout(timer);
      const list: string[] = [];
      for (const k in headers) {
        const v = headers[k];
        if (k.charCodeAt(0) === 58 /* ':' */ || v === undefined) continue;
        if (Array.isArray(v)) for (const x of v) list.push(k, x);
        else list.push(k, String(v));
      }
      handler.onHeaders(Number(headers[':status']), list, () => stream.resume());
      stream.on('data', (chunk: Buffer) => {
        if (!over && !handler.onData(chunk)) stream.pause();
      });
      stream.once('end', () => finish());
    });
    stream.once('error', (err) => {
      // REFUSED_STREAM means the container never saw the request: safe to treat as a connect failure
      const code = (err as { code?: string }).code;
      const refused =
        code === 'ERR_HTTP2_STREAM_ERROR' && stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM;
      finish(
        new UpstreamFailure(!answered && refused ? 'connect' : 'reset', `reverse stream failed (${code})`, {
          cause: err,
        }),
      );
    });
    stream.once('close', () =>
      finish(
        new UpstreamFailure(
          'reset',
          answered ? 'reverse stream closed mid-body' : 'reverse stream closed before a response',
        ),
      ),
    );
    if (req.body === undefined) stream.end();
    else if (Buffer.isBuffer(req.body)) stream.end(req.body);
    else req.body.pipe(stream);
  }

  async destroy(): Promise<void> {
    if (this.closed) return;
    this.session.destroy();
    await this.ended;
  }
}

/** HTTP/2 wants a headers object; a repeated name becomes a list. */
function toHttp2Headers(req: UpstreamRequest): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = { ':method': req.method, ':path': req.path };
  const h = req.headers;
  for (let i = 0; i < h.length; i += 2) {
    const k = h[i]!;
    const prev = out[k];
    out[k] = prev === undefined ? h[i + 1]! : [...(Array.isArray(prev) ? prev : [String(prev)]), h[i + 1]!];
  }
  return out;
}
