/**
 * The proxy's hot path, `* /svc/<service>/<path>`, on Node's own request and response objects: the HTTP server
 * hands these requests here before fastify sees them. Measured under wrk, fastify's routing, reply object and
 * hooks cost as much CPU per request as the rest of the proxy together (docs/benchmarks/container-balancer.md), and
 * none of its features (schemas, serialization, content-type parsing) apply to bytes passed through.
 *
 * Per request: one pass over the raw header list (hop-by-hop ones dropped, forwarding headers appended), a pick
 * by the forwarder, and the answer's body piped to the client. Counters are pre-bound per service.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Counter } from 'prom-client';
import { BalancerError, STATUS, type BalancerErrorCode } from '../errors.js';
import type { BalancerMetrics } from '../metrics.js';
import { HOP_BY_HOP } from '../upstream/upstream.js';
import type { Forwarder } from './forwarder.js';
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
    if (HOP_BY_HOP.has(k) || k === 'x-forwarded-for' || OWN.has(k) || named?.has(k)) continue;
    out.push(k, raw[i + 1]!);
  }
  out.push('x-forwarded-for', xff === undefined ? f.ip : `${xff}, ${f.ip}`, 'x-forwarded-proto', f.proto);
  if (host !== undefined) out.push('x-forwarded-host', host);
  out.push('x-forwarded-prefix', f.prefix);
  return { headers: out, idempotencyKey, framed };
}

/** A container's response headers as a flat list for `writeHead`, without hop-by-hop ones. */
export function responseHeaders(h: Readonly<Record<string, string | string[] | undefined>>): string[] {
  const conn = h['connection'];
  const named =
    conn === undefined
      ? undefined
      : new Set(
          String(conn)
            .toLowerCase()
            .split(/\s*,\s*/),
        );
  const out: string[] = [];
  for (const k in h) {
    const v = h[k];
    if (v === undefined || HOP_BY_HOP.has(k) || k.charCodeAt(0) === 58 /* ':' */ || named?.has(k)) continue;
    if (typeof v === 'string') out.push(k, v);
    else for (const x of v) out.push(k, x);
  }
  return out;
}

interface ServiceCounters {
  ok: { inc(): void };
  error: { inc(): void };
}

export function createProxyHandler(
  components: ProxyComponents,
  init: ProxyInit,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { forwarder, metrics } = components;
  // bound per service the first time a container of it answers (names of live services only, so bounded)
  const bound = new Map<string, ServiceCounters>();
  const countersFor = (service: string): ServiceCounters => {
    let c = bound.get(service);
    if (!c) {
      const child = (m: Counter<'service' | 'outcome'>, outcome: string) => m.labels({ service, outcome });
      c = { ok: child(metrics.requests, 'ok'), error: child(metrics.requests, 'error') };
      bound.set(service, c);
    }
    return c;
  };

  const fail = (res: ServerResponse, service: string, err: BalancerError) => {
    metrics.errors.inc({ service, code: err.code });
    metrics.requests.inc({ service, outcome: 'error' });
    const body = JSON.stringify({ code: err.code, message: err.message });
    const headers: string[] = ['content-type', 'application/json; charset=utf-8'];
    if (err.code === 'BAL_ERR_NO_CONTAINER') headers.push('retry-after', String(init.retryAfterS));
    if (!res.headersSent) res.writeHead(STATUS[err.code], headers);
    res.end(body);
  };
  const failWith = (res: ServerResponse, service: string, code: BalancerErrorCode, message: string) =>
    fail(res, service, new BalancerError(code, message));

  return (req, res) => {
    const url = req.url!;
    const slash = url.indexOf('/', PROXY_PREFIX.length);
    const q = url.indexOf('?', PROXY_PREFIX.length);
    const end = slash >= 0 && (q < 0 || slash < q) ? slash : q >= 0 ? q : url.length;
    const service = url.slice(PROXY_PREFIX.length, end);
    const rest = url.slice(end);
    const path = rest.length === 0 || rest.charCodeAt(0) === 63 /* '?' */ ? `/${rest}` : rest;
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
      forwarder
        .forward({ service, method, path, headers, ...(body !== undefined ? { body } : {}), idempotent })
        .then(
          (r) => {
            const status = r.response.status;
            const counters = countersFor(service);
            if (!idempotent && (status === 502 || status === 503)) metrics.notRetried.inc({ service });
            (status >= 500 ? counters.error : counters.ok).inc();
            const out = responseHeaders(r.response.headers);
            out.push('x-container-id', r.container.id);
            res.writeHead(status, out);
            // pipe(), not pipeline(): pipeline makes an AbortController per call, which showed in the profile.
            // A client that goes away destroys the upstream body (that connection is not reused).
            const body = r.response.body;
            body.pipe(res);
            body.once('error', () => res.destroy());
            res.once('close', () => {
              if (!body.readableEnded) body.destroy();
            });
          },
          (err: unknown) => {
            if (err instanceof BalancerError) return fail(res, service, err);
            failWith(res, service, 'BAL_ERR_UPSTREAM', 'internal error while forwarding');
          },
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
