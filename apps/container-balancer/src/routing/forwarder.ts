/**
 * Sends one request for a service to the head of its queue and, under the retry policy, to the next ones.
 * Counts the request in the chosen container's score while it is in flight (until its response body ends).
 *
 * The hot path is callback-based ({@link Forwarder.dispatch} with a {@link ForwardSink}): per request one small
 * object per attempt, no promise, no response stream (measured under wrk, undici's `request` with its body stream
 * and promise cost more CPU than the pick, the headers and the forwarding together). {@link Forwarder.forward} wraps
 * it in a promise for the allocation API.
 */
import type { Readable } from 'node:stream';
import { BalancerError } from '../errors.js';
import type { BalancerMetrics } from '../metrics.js';
import type { ContainerTable, ContainerView } from '../queues/container-table.js';
import {
  UpstreamFailure,
  bodyStream,
  headerObject,
  type Upstream,
  type HeaderList,
  type UpstreamHandler,
  type UpstreamResponse,
} from '../upstream/upstream.js';
import { decide } from './retry-policy.js';

export interface ForwardRequest {
  service: string;
  method: string;
  path: string;
  headers: HeaderList;
  /** Buffered when the request may be retried. */
  body?: Buffer | Readable;
  idempotent: boolean;
  /** Try this container first (a sticky key); the queue after it. */
  prefer?: ContainerView;
  /** Recorded with the pick (allocation key). */
  key?: string;
}

export interface ForwardResult {
  container: ContainerView;
  response: UpstreamResponse;
  attempts: number;
}

/**
 * Receives the answer of the container that finally answered (after retries). Exactly one of `onEnd` /
 * `onError` follows `onHeaders`, or `onError` alone when no container answered.
 */
export interface ForwardSink {
  onHeaders(container: ContainerView, status: number, headers: string[], resume: () => void): void;
  /** false pauses the container's body until `resume`. */
  onData(chunk: Buffer): boolean;
  onEnd(): void;
  /**
   * Before headers: BAL_ERR_NO_CONTAINER (none serving), BAL_ERR_UPSTREAM (failed and not, or no longer,
   * retried), BAL_ERR_UPSTREAM_TIMEOUT (no response headers in time). After headers: the body broke.
   */
  onError(err: BalancerError): void;
}

/** Stops a forwarded request (the client went away): the container's request is aborted, its count released. */
export interface ForwardCall {
  abort(): void;
}

export interface ForwarderComponents {
  table: ContainerTable;
  upstreams: { get(id: string): Upstream | undefined };
  metrics: BalancerMetrics;
}

export class Forwarder {
  constructor(
    readonly components: ForwarderComponents,
    readonly init: { retries: number; upstreamTimeoutMs: number },
  ) {}

  /** Starts a request; its outcome goes to `sink`. */
  dispatch(req: ForwardRequest, sink: ForwardSink): ForwardCall {
    const call = new Call(this, req, sink);
    call.next(undefined);
    return call;
  }

  /** The same as a promise of the response with a streamed body (the allocation API: off the hot path). */
  forward(req: ForwardRequest): Promise<ForwardResult> {
    return new Promise((resolve, reject) => {
      let body: Readable | undefined;
      const call: Call = new Call(this, req, {
        onHeaders(container, status, headers, resume) {
          body = bodyStream(resume, () => call.abort());
          const response = { status, headers: headerObject(headers), body };
          resolve({ container, response, attempts: call.attempt + 1 });
        },
        onData: (chunk) => body!.push(chunk),
        onEnd: () => void body!.push(null),
        onError(err) {
          if (body) body.destroy(err);
          else reject(err);
        },
      });
      call.next(undefined);
    });
  }
}

/** One forwarded request across its attempts. */
class Call implements ForwardCall {
  attempt = -1;
  private tried: Set<string> | undefined;
  private last: UpstreamFailure | undefined;
  /** The attempt whose answer is passed on (older ones, retried after a 502/503, are discarded). */
  private current: Attempt | undefined;
  private over = false;

  constructor(
    private readonly fwd: Forwarder,
    readonly req: ForwardRequest,
    readonly sink: ForwardSink,
  ) {}

  /** Tries the next container (`failed`: the one that just failed, excluded from now on). */
  next(failed: string | undefined): void {
    const { table, upstreams } = this.fwd.components;
    const req = this.req;
    if (failed !== undefined) (this.tried ??= new Set()).add(failed);
    for (;;) {
      this.attempt++;
      const c =
        this.attempt === 0 && req.prefer && upstreams.get(req.prefer.id)
          ? req.prefer
          : table.pick(req.service, this.tried, req.key);
      if (!c) return this.fail(this.noContainer());
      const up = upstreams.get(c.id);
      if (!up) {
        // reverse container without its connection yet: not eligible in practice
        (this.tried ??= new Set()).add(c.id);
        continue;
      }
      table.begin(c.id);
      const a = new Attempt(this, c, table);
      this.current = a;
      up.dispatch(
        {
          method: req.method,
          path: req.path,
          headers: req.headers,
          idempotent: req.idempotent,
          ...(req.body !== undefined ? { body: req.body } : {}),
          timeoutMs: this.fwd.init.upstreamTimeoutMs,
        },
        a,
      );
      return;
    }
  }

  private noContainer(): BalancerError {
    const { service } = this.req;
    if (this.tried === undefined)
      return new BalancerError('BAL_ERR_NO_CONTAINER', `no serving container for service ${service}`, {
        details: { service },
      });
    return new BalancerError(
      'BAL_ERR_UPSTREAM',
      `every container tried for ${service} failed (${this.tried.size}); last: ${this.last?.message ?? 'unknown'}`,
      { cause: this.last },
    );
  }

  private fail(err: BalancerError): void {
    if (this.over) return;
    this.over = true;
    this.sink.onError(err);
  }

  abort(): void {
    this.over = true;
    this.current?.abort();
  }

  /** The attempt `a` failed before its response headers. */
  failed(a: Attempt, err: UpstreamFailure): void {
    if (this.over || a !== this.current) return;
    const { metrics } = this.fwd.components;
    const req = this.req;
    this.last = err;
    if (decide({ failure: err.kind }, req.idempotent, this.attempt, this.fwd.init.retries) === 'retry') {
      metrics.retries.inc({ service: req.service });
      return this.next(a.container.id);
    }
    if (!req.idempotent) metrics.notRetried.inc({ service: req.service });
    const id = a.container.id;
    if (err.kind === 'timeout')
      return this.fail(
        new BalancerError('BAL_ERR_UPSTREAM_TIMEOUT', `container ${id}: ${err.message}`, { cause: err }),
      );
    this.fail(new BalancerError('BAL_ERR_UPSTREAM', `container ${id}: ${err.message}`, { cause: err }));
  }

  /** The attempt `a` has response headers: passed on, or discarded and retried (a 502/503 to an idempotent request). */
  answered(a: Attempt, status: number, headers: string[], resume: () => void): boolean {
    if (this.over || a !== this.current) return false;
    const req = this.req;
    if (decide({ status }, req.idempotent, this.attempt, this.fwd.init.retries) === 'retry') {
      this.last = new UpstreamFailure('reset', `container ${a.container.id} answered ${status}`);
      this.fwd.components.metrics.retries.inc({ service: req.service });
      this.next(a.container.id); // the old body is read to its end and dropped: its connection is reused
      return false;
    }
    this.sink.onHeaders(a.container, status, headers, resume);
    return true;
  }

  data(chunk: Buffer): boolean {
    return this.over ? true : this.sink.onData(chunk);
  }

  ended(err: UpstreamFailure | undefined): void {
    if (this.over) return;
    this.over = true;
    if (err)
      this.sink.onError(
        new BalancerError('BAL_ERR_UPSTREAM', `container body broke: ${err.message}`, { cause: err }),
      );
    else this.sink.onEnd();
  }
}

/** One try on one container; counts in its score from dispatch until its exchange ends. */
class Attempt implements UpstreamHandler {
  private released = false;
  /** Its exchange has ended (complete or failed): nothing to abort. */
  private done = false;
  private aborted = false;
  /** undefined: no headers yet; true: passed on; false: discarded. */
  private passed: boolean | undefined;
  private abortUpstream: (() => void) | undefined;

  constructor(
    private readonly call: Call,
    readonly container: ContainerView,
    private readonly table: ContainerTable,
  ) {}

  private release(): void {
    if (!this.released) {
      this.released = true;
      this.table.end(this.container.id);
    }
  }

  abort(): void {
    this.release();
    if (this.done || this.aborted) return;
    this.aborted = true;
    this.abortUpstream?.();
  }

  onStart(abort: () => void): void {
    this.abortUpstream = abort;
    if (this.aborted) abort(); // aborted while it waited in the pool's queue
  }

  onHeaders(status: number, headers: string[], resume: () => void): void {
    this.passed = this.call.answered(this, status, headers, resume);
    if (!this.passed) this.release();
  }

  onData(chunk: Buffer): boolean {
    return this.passed ? this.call.data(chunk) : true;
  }

  onComplete(): void {
    this.done = true;
    this.release();
    if (this.passed) this.call.ended(undefined);
  }

  onError(err: UpstreamFailure): void {
    this.done = true;
    this.release();
    if (this.passed === undefined) this.call.failed(this, err);
    else if (this.passed) this.call.ended(err);
  }
}
