/**
 * How the balancer reaches one container: an interface and two implementations side by side, `direct-upstream.ts`
 * (undici pool to the address it advertised) and `reverse-upstream.ts` (HTTP/2 client on the connection the
 * container dialed). Failures are translated where they enter into an {@link UpstreamFailure} with a kind that
 * the retry policy reads; never by message text.
 */
import type { Readable } from 'node:stream';

export type UpstreamHeaders = Record<string, string | string[]>;

/** Request headers as a flat `[name, value, name, value, …]` list, names in lower case (no object per request). */
export type HeaderList = readonly string[];

export interface UpstreamRequest {
  method: string;
  /** Path and query on the container, starting with '/'. */
  path: string;
  headers: HeaderList;
  /** A buffered body (re-sendable) or a stream (sent once). */
  body?: Buffer | Readable;
  /** No response headers within this → UpstreamFailure 'timeout'. */
  timeoutMs: number;
}

export interface UpstreamResponse {
  status: number;
  headers: UpstreamHeaders;
  /** Streamed; the caller must consume or destroy it. */
  body: Readable;
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
  request(req: UpstreamRequest): Promise<UpstreamResponse>;
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
