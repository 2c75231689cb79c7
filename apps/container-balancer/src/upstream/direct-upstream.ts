/** A direct-mode container: an undici pool of keep-alive HTTP/1.1 connections to the address it advertised. */
import { Readable } from 'node:stream';
import { Pool, errors } from 'undici';
import {
  UpstreamFailure,
  type FailureKind,
  type Upstream,
  type UpstreamHeaders,
  type UpstreamRequest,
  type UpstreamResponse,
} from './upstream.js';

/** undici's error codes, mapped to what the retry policy needs to know. */
const KIND_BY_CODE: Readonly<Record<string, FailureKind>> = {
  ECONNREFUSED: 'connect',
  EHOSTUNREACH: 'connect',
  ENETUNREACH: 'connect',
  EADDRNOTAVAIL: 'connect',
  UND_ERR_CONNECT_TIMEOUT: 'connect',
  UND_ERR_CLOSED: 'connect',
  UND_ERR_DESTROYED: 'connect',
  ECONNRESET: 'reset',
  EPIPE: 'reset',
  UND_ERR_SOCKET: 'reset',
  UND_ERR_ABORTED: 'reset',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
};

export function translateUndiciError(err: unknown): UpstreamFailure {
  const code = (err as { code?: unknown }).code;
  const kind = (typeof code === 'string' && KIND_BY_CODE[code]) || 'reset';
  return new UpstreamFailure(kind, `upstream ${kind}${typeof code === 'string' ? ` (${code})` : ''}`, {
    cause: err,
  });
}

export class DirectUpstream implements Upstream {
  private readonly pool: Pool;

  constructor(address: string, init: { connections: number; connectTimeoutMs: number }) {
    this.pool = new Pool(`http://${address}`, {
      connections: init.connections,
      connect: { timeout: init.connectTimeoutMs },
      pipelining: 1,
    });
  }

  async request(req: UpstreamRequest): Promise<UpstreamResponse> {
    try {
      const res = await this.pool.request({
        method: req.method as 'GET',
        path: req.path,
        headers: req.headers as string[],
        body: req.body ?? null,
        headersTimeout: req.timeoutMs,
        bodyTimeout: 0, // long bodies are streamed; a stalled one ends with the client
      });
      return { status: res.statusCode, headers: res.headers as UpstreamHeaders, body: res.body as Readable };
    } catch (err) {
      if (err instanceof errors.UndiciError || (err as { code?: unknown }).code)
        throw translateUndiciError(err);
      throw err;
    }
  }

  async destroy(): Promise<void> {
    await this.pool.destroy();
  }
}
