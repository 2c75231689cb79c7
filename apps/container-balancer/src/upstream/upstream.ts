/**
 * How the balancer reaches one container: an interface and two implementations side by side, `direct-upstream.ts`
 * (undici pool to the address it advertised) and `reverse-upstream.ts` (HTTP/2 client on the connection the
 * container dialed). Failures are translated where they enter into an {@link UpstreamFailure} with a kind that
 * the retry policy reads; never by message text.
 */
import { Readable } from 'node:stream';

export type UpstreamHeaders = Record<string, string | string[]>;

/** Request headers as a flat `[name, value, name, value, …]` list, names in lower case (no object per request). */
export type HeaderList = readonly string[];

export interface UpstreamRequest {
  method: string;
  /** Path and query on the container, starting with '/'. */
  path: string;
  headers: HeaderList;
  /**
   * The request may be sent again (the retry policy's rule): only such requests are pipelined to a container,
   * since undici re-sends the unanswered ones of a pipeline whose connection broke.
   */
  idempotent?: boolean;
  /** A buffered body (re-sendable) or a stream (sent once). */
  body?: Buffer | Readable;
  /** No response headers within this → UpstreamFailure 'timeout'. */
  timeoutMs: number;
}

/** What a response's headers look like to the caller of {@link requestOn} (the allocation API). */
export interface UpstreamResponse {
  status: number;
  headers: UpstreamHeaders;
  /** Streamed; the caller must consume or destroy it. */
  body: Readable;
}

/**
 * Receives one exchange with a container, as undici's own dispatch handlers do: no promise, no response stream
 * and no header object per request (the proxy writes each callback straight to the client's response).
 * Exactly one of `onComplete` / `onError` ends the exchange (after `abort`, `onError` may still come: ignore it).
 */
export interface UpstreamHandler {
  /** The request is under way; `abort` stops it (the client went away). May be called before or after sending. */
  onStart(abort: () => void): void;
  /**
   * Response headers as a flat `[name, value, …]` list (names as the container sent them, pseudo-headers
   * removed). `resume` restarts a body that `onData` paused.
   */
  onHeaders(status: number, headers: string[], resume: () => void): void;
  /** A body chunk; false pauses the body until `resume`. */
  onData(chunk: Buffer): boolean;
  onComplete(): void;
  /** Before `onHeaders`: the request failed (its kind drives the retry policy). After: the body broke. */
  onError(err: UpstreamFailure): void;
}

/**
 * `connect`: the request never reached the container (refused, no session, connect timeout);
 * `reset`: the connection broke before the response headers (the request may have been processed);
 * `timeout`: no response headers in time.
 */
export type FailureKind = 'connect' | 'reset' | 'timeout';

export class UpstreamFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'UpstreamFailure';
  }
}

export interface Upstream {
  dispatch(req: UpstreamRequest, handler: UpstreamHandler): void;
  /** Closes every connection at once (the container has left). */
  destroy(): Promise<void>;
}

/** Hop-by-hop headers (RFC 9110 §7.6.1) and HTTP/2 pseudo or forbidden ones: never forwarded. */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'host',
  'http2-settings',
]);

/**
 * One request as a promise of its response with a streamed body: for callers off the hot path (the allocation
 * API, tests). Rejects with the UpstreamFailure of a request that failed before its headers.
 */
export function requestOn(up: Upstream, req: UpstreamRequest): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) => {
    let body: Readable | undefined;
    let abort: (() => void) | undefined;
    up.dispatch(req, {
      onStart: (a) => (abort = a),
      onHeaders(status, list, resume) {
        body = bodyStream(resume, () => abort?.());
        resolve({ status, headers: headerObject(list), body });
      },
      onData: (chunk) => body!.push(chunk),
      onComplete: () => void body!.push(null),
      onError(err) {
        if (body) body.destroy(err);
        else reject(err);
      },
    });
  });
}

/** A flat header list as an object, repeated names as lists, names in lower case. */
export function headerObject(list: readonly string[]): UpstreamHeaders {
  const out: UpstreamHeaders = {};
  for (let i = 0; i < list.length; i += 2) {
    const k = list[i]!.toLowerCase();
    const prev = out[k];
    out[k] = prev === undefined ? list[i + 1]! : [...(Array.isArray(prev) ? prev : [prev]), list[i + 1]!];
  }
  return out;
}

/** A response body as a stream fed by `push` (paused through `resume`); destroyed early, it calls `abort`. */
export function bodyStream(resume: () => void, abort: () => void): Readable {
  const body: Readable = new Readable({
    read: () => resume(),
    destroy: (err, cb) => {
      if (!body.readableEnded) abort();
      cb(err);
    },
  });
  return body;
}
