/**
 * Sends one request for a service to the head of its queue and, under the retry policy, to the next ones.
 * Counts the request in the chosen container's score while it is in flight (until its response body ends).
 */
import type { Readable } from 'node:stream';
import { BalancerError } from '../errors.js';
import type { BalancerMetrics } from '../metrics.js';
import type { ContainerTable, ContainerView } from '../queues/container-table.js';
import {
  UpstreamFailure,
  type Upstream,
  type HeaderList,
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

export interface ForwarderComponents {
  table: ContainerTable;
  upstreams: { get(id: string): Upstream | undefined };
  metrics: BalancerMetrics;
}

export class Forwarder {
  constructor(
    private readonly components: ForwarderComponents,
    private readonly init: { retries: number; upstreamTimeoutMs: number },
  ) {}

  /**
   * Throws BAL_ERR_NO_CONTAINER (none serving), BAL_ERR_UPSTREAM (failed and not, or no longer, retried),
   * BAL_ERR_UPSTREAM_TIMEOUT (no response headers in time).
   */
  async forward(req: ForwardRequest): Promise<ForwardResult> {
    const { table, upstreams, metrics } = this.components;
    const tried = new Set<string>();
    let last: UpstreamFailure | undefined;
    for (let attempt = 0; ; attempt++) {
      const c =
        attempt === 0 && req.prefer && upstreams.get(req.prefer.id)
          ? req.prefer
          : table.pick(req.service, tried, req.key);
      if (!c) {
        if (attempt === 0)
          throw new BalancerError('BAL_ERR_NO_CONTAINER', `no serving container for service ${req.service}`, {
            details: { service: req.service },
          });
        throw new BalancerError(
          'BAL_ERR_UPSTREAM',
          `every container tried for ${req.service} failed (${tried.size}); last: ${last?.message ?? 'unknown'}`,
          { cause: last },
        );
      }
      tried.add(c.id);
      const up = upstreams.get(c.id);
      if (!up) continue; // reverse container without its connection yet: not eligible in practice
      table.begin(c.id);
      let response: UpstreamResponse;
      try {
        response = await up.request({
          method: req.method,
          path: req.path,
          headers: req.headers,
          ...(req.body !== undefined ? { body: req.body } : {}),
          timeoutMs: this.init.upstreamTimeoutMs,
        });
      } catch (err) {
        table.end(c.id);
        if (!(err instanceof UpstreamFailure)) throw err;
        last = err;
        const d = decide({ failure: err.kind }, req.idempotent, attempt, this.init.retries);
        if (d === 'retry') {
          metrics.retries.inc({ service: req.service });
          continue;
        }
        if (!req.idempotent) metrics.notRetried.inc({ service: req.service });
        if (err.kind === 'timeout')
          throw new BalancerError('BAL_ERR_UPSTREAM_TIMEOUT', `container ${c.id}: ${err.message}`, {
            cause: err,
          });
        throw new BalancerError('BAL_ERR_UPSTREAM', `container ${c.id}: ${err.message}`, { cause: err });
      }
      if (decide({ status: response.status }, req.idempotent, attempt, this.init.retries) === 'retry') {
        response.body.resume(); // discard; the connection goes back to the pool
        table.end(c.id);
        last = new UpstreamFailure('reset', `container ${c.id} answered ${response.status}`);
        metrics.retries.inc({ service: req.service });
        continue;
      }
      let ended = false;
      const done = () => {
        if (!ended) {
          ended = true;
          table.end(c.id);
        }
      };
      response.body.once('end', done);
      response.body.once('close', done);
      response.body.once('error', done);
      return { container: c, response, attempts: attempt + 1 };
    }
  }
}
