/** A direct-mode container: an undici pool of keep-alive HTTP/1.1 connections to the address it advertised. */
import { Pool, buildConnector, type Dispatcher } from 'undici';
import {
  UpstreamFailure,
  type FailureKind,
  type Upstream,
  type UpstreamHandler,
  type UpstreamRequest,
} from './upstream.js';
import { batchWrites } from './write-batch.js';

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

/**
 * undici's dispatch handler for one request, passing each callback on to an {@link UpstreamHandler}: header
 * names and values are decoded once (latin1, as HTTP/1.1 defines them) and failures translated by code.
 */
class Exchange implements Dispatcher.DispatchHandler {
  private answered = false;

  constructor(private readonly handler: UpstreamHandler) {}

  onConnect(abort: (err?: Error) => void): void {
    this.handler.onStart(() => abort());
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void): boolean {
    this.answered = true;
    const list = new Array<string>(raw.length);
    for (let i = 0; i < raw.length; i++) list[i] = raw[i]!.toString('latin1');
    this.handler.onHeaders(status, list, resume);
    return true;
  }

  onData(chunk: Buffer): boolean {
    return this.handler.onData(chunk);
  }

  onComplete(): void {
    this.handler.onComplete();
  }

  onError(err: Error): void {
    // after headers, any failure is a broken body; the kind only matters before them
    this.handler.onError(
      this.answered
        ? new UpstreamFailure('reset', 'upstream body broke', { cause: err })
        : translateUndiciError(err),
    );
  }
}

/**
 * Two pools when pipelining is on: idempotent requests with no streamed body share connections up to `pipelining`
 * deep (undici's `blocking: false`, or it would wait for each response's headers before sending the next), all
 * other requests go one at a time on connections of their own. undici itself never pipelines a non-idempotent
 * request, but it would queue one on a connection behind the GETs in flight there (head-of-line: a POST waiting
 * for a slow GET's body); its own pool keeps it off them. When a pipelined connection breaks, undici fails the
 * request at its head (retried on the next container by the forwarder, like any reset) and sends the unanswered
 * ones behind it again on a new connection (safe: they are idempotent). The pipelined pool's sockets batch their
 * writes per turn of the event loop ({@link batchWrites}), so the requests pipelined to one connection in a turn
 * leave in one system call.
 */
export class DirectUpstream implements Upstream {
  private readonly pool: Pool;
  private readonly pipelined: Pool | undefined;

  constructor(
    address: string,
    init: {
      connections: number;
      connectTimeoutMs: number;
      pipelining?: number;
    },
  ) {
    const origin = `http://${address}`;
    const connect = { timeout: init.connectTimeoutMs };
    this.pool = new Pool(origin, { connections: init.connections, connect, pipelining: 1 });
    const depth = init.pipelining ?? 1;
    this.pipelined =
      depth > 1
        ? new Pool(origin, {
            connections: init.connections,
            connect: batchingConnector(init.connectTimeoutMs),
            pipelining: depth,
          })
        : undefined;
  }

  dispatch(req: UpstreamRequest, handler: UpstreamHandler): void {
    const body = req.body ?? null;
    const plain = req.idempotent === true && (body === null || Buffer.isBuffer(body));
    const pipeline = this.pipelined !== undefined && plain;
    const options: Dispatcher.DispatchOptions = {
      method: req.method as Dispatcher.HttpMethod,
      path: req.path,
      headers: req.headers as string[],
      body,
      headersTimeout: req.timeoutMs,
      bodyTimeout: 0, // long bodies are streamed; a stalled one ends with the client
    };
    if (pipeline) {
      options.idempotent = true; // undici's own default says so for GET and HEAD only
      options.blocking = false;
      this.pipelined!.dispatch(options, new Exchange(handler));
    } else this.pool.dispatch(options, new Exchange(handler));
  }

  async destroy(): Promise<void> {
    await Promise.all([this.pool.destroy(), this.pipelined?.destroy()]);
  }
}

/** undici's own connector (as a `Pool` builds it from `connect: { timeout }`), its sockets batching their writes. */
function batchingConnector(timeoutMs: number): buildConnector.connector {
  const connect = buildConnector({ timeout: timeoutMs });
  return (options, callback) =>
    connect(options, (...args) => {
      if (args[0] === null) batchWrites(args[1]);
      callback(...args);
    });
}
