/** Prometheus metrics of one balancer (its own prom-client registry, so several can live in one process). */
import { Counter, Gauge, Registry } from 'prom-client';
import type { ContainerTable } from './queues/container-table.js';

export class BalancerMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'balancer_requests_total',
    help: 'requests routed (proxied and allocations) by service and outcome (ok, error)',
    labelNames: ['service', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'balancer_errors_total',
    help: 'requests answered with a balancer error, by service and BAL_ERR code',
    labelNames: ['service', 'code'] as const,
    registers: [this.registry],
  });
  readonly retries = new Counter({
    name: 'balancer_retries_total',
    help: 'idempotent requests sent again to the next container after a failure or 502/503',
    labelNames: ['service'] as const,
    registers: [this.registry],
  });
  readonly notRetried = new Counter({
    name: 'balancer_non_idempotent_failures_total',
    help: 'non-idempotent requests that failed at a container and were not retried (by rule)',
    labelNames: ['service'] as const,
    registers: [this.registry],
  });
  readonly frontErrors = new Counter({
    name: 'balancer_front_errors_total',
    help: 'client requests the llhttp front refused before routing them (bad_request, header_overflow, upgrade, api_body_too_large, headers_timeout, request_timeout)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly registrations = new Counter({
    name: 'balancer_registrations_total',
    help: 'containers registered',
    labelNames: ['service'] as const,
    registers: [this.registry],
  });
  readonly rejected = new Counter({
    name: 'balancer_registrations_rejected_total',
    help: 'registration connections refused, by BAL_ERR code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly dropped = new Counter({
    name: 'balancer_containers_dropped_total',
    help: 'containers dropped from their queue (closed, silent, goodbye, evicted)',
    labelNames: ['service'] as const,
    registers: [this.registry],
  });

  /** Gauges read from the table at scrape time. */
  watch(table: ContainerTable): void {
    new Gauge({
      name: 'balancer_containers',
      help: 'containers in the queue, by service',
      labelNames: ['service'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [service, n] of table.counts()) this.set({ service }, n);
      },
    });
    new Gauge({
      name: 'balancer_in_flight',
      help: 'requests in flight at the balancer, by service',
      labelNames: ['service'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of table.services())
          this.set(
            { service: s.service },
            s.containers.reduce((n, c) => n + c.inFlight, 0),
          );
      },
    });
  }
}
