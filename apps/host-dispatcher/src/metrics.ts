/** Prometheus metrics of one dispatcher (its own registry, so several can live in one process). */
import { Counter, Gauge, Registry } from 'prom-client';

export class DispatcherMetrics {
  readonly registry = new Registry();
  readonly datagrams = new Counter({
    name: 'sipdisp_datagrams_total',
    help: 'UDP datagrams received by the primary',
    registers: [this.registry],
  });
  readonly injected = new Counter({
    name: 'sipdisp_injected_total',
    help: 'datagrams injected from another host',
    registers: [this.registry],
  });
  readonly decapsulated = new Counter({
    name: 'sipdisp_decapsulated_total',
    help: 'datagrams received on the --inner-address socket (vxlan POP: decapsulated by this kernel)',
    registers: [this.registry],
  });
  readonly forwarded = new Counter({
    name: 'sipdisp_forwarded_total',
    help: 'datagrams forwarded to a worker over seqpacket',
    labelNames: ['worker'],
    registers: [this.registry],
  });
  readonly dropped = new Counter({
    name: 'sipdisp_dropped_total',
    help: 'datagrams not forwarded, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly handoffs = new Counter({
    name: 'sipdisp_tcp_handoffs_total',
    help: 'TCP connections handed to a worker',
    registers: [this.registry],
  });
  /** Of those, the ones sent over Node's IPC channel (the worker has no hand-off channel of its own). */
  readonly handoffsOverIpc = new Counter({
    name: 'sipdisp_tcp_handoffs_ipc_total',
    help: "TCP connections handed to a worker over Node's IPC channel instead of the hand-off channel",
    registers: [this.registry],
  });
  /**
   * Reads of a TCP connection's first message that did not complete it (a message split over segments): 0 per
   * connection when the first request comes in one segment, which is the usual case and costs nothing here.
   */
  readonly tcpPartialReads = new Counter({
    name: 'sipdisp_tcp_partial_reads_total',
    help: 'reads of a TCP first message that left it incomplete (the primary waited for more)',
    registers: [this.registry],
  });
  readonly tcpRejected = new Counter({
    name: 'sipdisp_tcp_rejected_total',
    help: 'TCP connections closed by the primary before hand-off, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly violations = new Counter({
    name: 'sipdisp_affinity_violations_total',
    help: 'requests that reached a worker for a conference or dialog held by another worker',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly malformed = new Counter({
    name: 'sipdisp_malformed_total',
    help: 'malformed, truncated or oversized SIP messages (primary and workers)',
    labelNames: ['where', 'reason'],
    registers: [this.registry],
  });
  readonly workerLoad = new Gauge({
    name: 'sipdisp_worker_load',
    help: 'Call-ID bindings per worker',
    labelNames: ['worker'],
    registers: [this.registry],
  });
  readonly workers = new Gauge({
    name: 'sipdisp_workers',
    help: 'worker processes by state',
    labelNames: ['state'],
    registers: [this.registry],
  });
  readonly restarts = new Counter({
    name: 'sipdisp_worker_restarts_total',
    help: 'workers restarted after a crash',
    registers: [this.registry],
  });
  readonly sessionsOpened = new Counter({
    name: 'sipdisp_sessions_opened_total',
    help: 'dialogs reported by workers',
    registers: [this.registry],
  });
  readonly sessionsClosed = new Counter({
    name: 'sipdisp_sessions_closed_total',
    help: 'dialogs ended',
    registers: [this.registry],
  });
  readonly dialogsMirrored = new Gauge({
    name: 'sipdisp_dialogs_mirrored',
    help: 'dialogs whose state the primary holds (a worker crash hands them to another worker)',
    registers: [this.registry],
  });
  readonly dialogsHandedOver = new Counter({
    name: 'sipdisp_dialogs_handed_over_total',
    help: 'dialogs of crashed workers adopted by another worker',
    registers: [this.registry],
  });
  readonly dialogsNotMirrored = new Counter({
    name: 'sipdisp_dialogs_not_mirrored_total',
    help: 'dialogs not mirrored (over the per-worker bound, or state too large): lost if their worker crashes',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly mediaMover = new Counter({
    name: 'sipdisp_media_mover_total',
    help: 'media mover events in the workers (mixer lost, re-INVITEs sent/answered/failed ...), reported by each worker',
    labelNames: ['event'],
    registers: [this.registry],
  });
}
