/**
 * The proxy's hot path, `* /svc/<service>/<path>`, on Node's own request and response objects: the HTTP server
 * hands these requests here before fastify sees them. Measured under wrk, fastify's routing, reply object and
 * hooks cost as much CPU per request as the rest of the proxy together (docs/benchmarks/container-balancer.md), and
 * none of its features (schemas, serialization, content-type parsing) apply to bytes passed through.
 *
 * Per request: one pass over the raw header list (hop-by-hop ones dropped, forwarding headers appended), a pick
 * by the forwarder, and the container's answer written to the client callback by callback (undici's dispatch
 * handler, no response stream, no promise; see forwarder.ts). Counters are pre-bound per service.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { Counter } from 'prom-client';
import { BalancerError, STATUS, type BalancerErrorCode } from '../errors.js';
import type { BalancerMetrics } from '../metrics.js';
import { HOP_BY_HOP } from '../upstream/upstream.js';
import type { ContainerView } from '../queues/container-table.js';
import type { ForwardCall, Forwarder, ForwardSink } from './forwarder.js';
import { IDEMPOTENT_METHODS } from './retry-policy.js';

export const PROXY_PREFIX = '/svc/';

export interface ProxyComponents {
  forwarder: Forwarder;
  metrics: BalancerMetrics;
}

export interface ProxyInit {
  retryAfterS: number;
  maxRetryBodyBytes: number;
}

/**
 * `/svc/<service>/<rest>` split into the service and the container's path (`/` + query when `rest` is empty).
 * The service is empty when the URL has none.
 */
export function splitSvcUrl(url: string): { service: string; path: string } {
  const slash = url.indexOf('/', PROXY_PREFIX.length);
  const q = url.indexOf('?', PROXY_PREFIX.length);
  const end = slash >= 0 && (q < 0 || slash < q) ? slash : q >= 0 ? q : url.length;
  const rest = url.slice(end);
  return {
    service: url.slice(PROXY_PREFIX.length, end),
    path: rest.length === 0 || rest.charCodeAt(0) === 63 /* '?' */ ? `/${rest}` : rest,
  };
}

/** Forwarding headers the proxy sets itself: whatever the client sent under these names is replaced. */
const OWN = new Set(['x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-prefix']);

/**
 * The request's end-to-end headers as a flat `[name, value, …]` list (undici takes it as is), without hop-by-hop
 * headers (RFC 9110 §7.6.1) or those `Connection` names, with X-Forwarded-For/-Proto/-Host/-Prefix set.
 */
export function forwardHeaders(
  raw: readonly string[],
  f: { ip: string; proto: string; prefix: string },
): { headers: string[]; idempotencyKey: boolean; framed: boolean } {
  let named: Set<string> | undefined;
  let xff: string | undefined;
  let host: string | undefined;
  let idempotencyKey = false;
  let framed = false; // Content-Length or Transfer-Encoding: the request has a body
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    if (k === 'idempotency-key') idempotencyKey = true;
    else if (k === 'content-length' || k === 'transfer-encoding') framed = true;
    else if (k === 'connection')
      for (const n of raw[i + 1]!.split(',')) {
        const t = n.trim().toLowerCase();
        if (t) (named ??= new Set()).add(t);
      }
    else if (k === 'x-forwarded-for') xff = xff === undefined ? raw[i + 1]! : `${xff}, ${raw[i + 1]!}`;
    else if (k === 'host') host = raw[i + 1]!;
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    // `Expect: 100-continue` is answered by the front itself (undici refuses to send it)
    if (HOP_BY_HOP.has(k) || k === 'x-forwarded-for' || k === 'expect' || OWN.has(k) || named?.has(k))
      continue;
    out.push(k, raw[i + 1]!);
  }
  out.push('x-forwarded-for', xff === undefined ? f.ip : `${xff}, ${f.ip}`, 'x-forwarded-proto', f.proto);
  if (host !== undefined) out.push('x-forwarded-host', host);
  out.push('x-forwarded-prefix', f.prefix);
  return { headers: out, idempotencyKey, framed };
}

/**
 * A container's response headers (a flat `[name, value, …]` list as received) for `writeHead`, without hop-by-hop
 * ones or those its `Connection` header names. Names are compared in lower case and passed on as they came.
 */
export function responseHeaders(list: readonly string[]): string[] {
  let named: Set<string> | undefined;
  for (let i = 0; i < list.length; i += 2)
    if (list[i]!.length === 10 && list[i]!.toLowerCase() === 'connection')
      for (const n of list[i + 1]!.split(',')) {
        const t = n.trim().toLowerCase();
        if (t) (named ??= new Set()).add(t);
      }
  const out: string[] = [];
  for (let i = 0; i < list.length; i += 2) {
    const k = list[i]!.toLowerCase();
    if (HOP_BY_HOP.has(k) || named?.has(k)) continue;
    out.push(list[i]!, list[i + 1]!);
  }
  return out;
}

interface ServiceCounters {
  ok: { inc(): void };
  error: { inc(): void };
}

/** The response's Content-Length when it is a plain decimal, else -1 (chunked, absent, or garbage). */
export function contentLength(list: readonly string[]): number {
  for (let i = 0; i < list.length; i += 2)
    if (list[i]!.length === 14 && list[i]!.toLowerCase() === 'content-length') {
      const v = list[i + 1]!;
      return /^\d{1,15}$/.test(v) ? Number(v) : -1;
    }
  return -1;
}

/** The client's response, fed by the forwarder (one per proxied request: its state lives here, not in closures). */
class Exchange implements ForwardSink {
  call: ForwardCall | undefined;
  private resume: (() => void) | undefined;
  /** The body's length when the container declared it and nothing of it was written yet, else -1. */
  private whole = -1;
  /** The response was ended with the body's only chunk. */
  private ended = false;

  constructor(
    private readonly proxy: Proxy,
    private readonly res: ServerResponse,
    private readonly service: string,
    private readonly idempotent: boolean,
    /** The exchanges open on the client's connection: this one leaves it when its response is complete. */
    private readonly open: Set<Exchange>,
  ) {}

  onHeaders(container: ContainerView, status: number, headers: string[], resume: () => void): void {
    const { proxy, service } = this;
    if (!this.idempotent && (status === 502 || status === 503)) proxy.metrics.notRetried.inc({ service });
    const counters = proxy.countersFor(service);
    (status >= 500 ? counters.error : counters.ok).inc();
    const out = responseHeaders(headers);
    out.push('x-container-id', container.id);
    this.res.writeHead(status, out);
    this.whole = contentLength(headers);
    this.resume = resume;
  }

  onData(chunk: Buffer): boolean {
    if (chunk.length === this.whole) {
      // the whole body in one chunk (a small answer): one end() instead of write() then end(), the same bytes
      this.ended = true;
      this.open.delete(this);
      this.res.end(chunk);
      return true;
    }
    this.whole = -1;
    if (this.res.write(chunk)) return true;
    // the client reads slower than the container writes: hold the container's body until the client drains
    this.res.once('drain', this.resume!);
    return false;
  }

  onEnd(): void {
    this.open.delete(this);
    if (!this.ended) this.res.end();
  }

  onError(err: BalancerError): void {
    this.open.delete(this);
    if (this.res.headersSent) {
      if (!this.ended) this.res.destroy();
    } else this.proxy.fail(this.res, this.service, err);
  }
}

const kOpen = Symbol('open-exchanges');
/** A client connection with the exchanges still answering on it (more than one only when it pipelines). */
type ClientSocket = Socket & { [kOpen]?: Set<Exchange> };

/**
 * The client's connection closed: stop the containers' requests still answering on it. One listener per
 * connection rather than one per response (a keep-alive connection carries many requests).
 */
function onClientClose(this: ClientSocket): void {
  const open = this[kOpen];
  if (!open) return;
  for (const ex of open) ex.call?.abort();
  open.clear();
}

class Proxy {
  // bound per service the first time a container of it answers (names of live services only, so bounded)
  private readonly bound = new Map<string, ServiceCounters>();

  constructor(
    readonly metrics: BalancerMetrics,
    private readonly retryAfterS: number,
  ) {}

  countersFor(service: string): ServiceCounters {
    let c = this.bound.get(service);
    if (!c) {
      const child = (m: Counter<'service' | 'outcome'>, outcome: string) => m.labels({ service, outcome });
      c = { ok: child(this.metrics.requests, 'ok'), error: child(this.metrics.requests, 'error') };
      this.bound.set(service, c);
    }
    return c;
  }

  fail(res: ServerResponse, service: string, err: BalancerError): void {
    this.metrics.errors.inc({ service, code: err.code });
    this.metrics.requests.inc({ service, outcome: 'error' });
    const body = JSON.stringify({ code: err.code, message: err.message });
    const headers: string[] = ['content-type', 'application/json; charset=utf-8'];
    if (err.code === 'BAL_ERR_NO_CONTAINER') headers.push('retry-after', String(this.retryAfterS));
    if (!res.headersSent) res.writeHead(STATUS[err.code], headers);
    res.end(body);
  }
}

export function createProxyHandler(
  components: ProxyComponents,
  init: ProxyInit,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { forwarder, metrics } = components;
  const proxy = new Proxy(metrics, init.retryAfterS);
  const failWith = (res: ServerResponse, service: string, code: BalancerErrorCode, message: string) =>
    proxy.fail(res, service, new BalancerError(code, message));

  return (req, res) => {
    const { service, path } = splitSvcUrl(req.url!);
    if (service.length === 0)
      return failWith(res, service, 'BAL_ERR_BAD_REQUEST', 'the path must be /svc/<service>/<path>');
    const method = req.method!;
    // req.headers is built lazily by Node: reading only rawHeaders saves an object per request
    const { headers, idempotencyKey, framed } = forwardHeaders(req.rawHeaders, {
      ip: req.socket.remoteAddress ?? '',
      proto: (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
      prefix: `${PROXY_PREFIX}${service}`,
    });
    const idempotent = idempotencyKey || IDEMPOTENT_METHODS.has(method);
    const hasBody = framed && method !== 'GET' && method !== 'HEAD';

    const send = (body: Buffer | Readable | undefined) => {
      const sock = req.socket as ClientSocket;
      let open = sock[kOpen];
      if (!open) {
        open = sock[kOpen] = new Set();
        sock.once('close', onClientClose);
      }
      const ex = new Exchange(proxy, res, service, idempotent, open);
      open.add(ex);
      ex.call = forwarder.dispatch(
        { service, method, path, headers, ...(body !== undefined ? { body } : {}), idempotent },
        ex,
      );
    };

    if (!hasBody) return send(undefined);
    if (!idempotent) return send(req); // streamed once, never buffered
    // an idempotent request may go to a second container: keep its body to send again
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (c: Buffer) => {
      if (refused) return;
      size += c.length;
      if (size > init.maxRetryBodyBytes) {
        refused = true;
        failWith(
          res,
          service,
          'BAL_ERR_BAD_REQUEST',
          `a retryable body is limited to ${init.maxRetryBodyBytes} bytes`,
        );
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.once('end', () => {
      if (!refused) send(Buffer.concat(chunks));
    });
    req.once('error', () => undefined);
  };
}
