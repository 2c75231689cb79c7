/**
 * Kernel steering, the primary's adapter: feeds the {@link SteeringTable} from the UDP ingress and the workers'
 * reports, sends its steer/unsteer actions to the workers, routes the datagrams workers bounce back, and exports
 * the metrics.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { FRAME_BOUNCED_UNDELEGATE, readFrameHeader, type FromWorker, type ToWorker } from '../ipc.js';
import {
  SteeringTable,
  type SteeringAction,
  type SteeringInit,
  type SteeringView,
} from './steering-table.js';

export interface PrimarySteeringComponents {
  registry: Registry;
  view: SteeringView;
  /** IPC to a worker. */
  send(worker: string, m: ToWorker): void;
  /** Routes a bounced datagram as if it had arrived on service socket `local`. */
  route(payload: Buffer, address: string, port: number, local: number): void;
}

export class PrimarySteering {
  readonly table: SteeringTable;
  private readonly bouncedFrames: { inc(): void };

  constructor(
    private readonly c: PrimarySteeringComponents,
    init: SteeringInit,
  ) {
    const table = new SteeringTable(c.view, init);
    this.table = table;
    // the table counts; the metrics read its counts at scrape time (nothing to keep in step per event)
    new Gauge({
      name: 'sipdisp_steering_delegations',
      help: 'kernel steering: peers delegated to a worker (its connected socket up or being made)',
      registers: [c.registry],
      collect() {
        this.set(table.active);
      },
    });
    new Counter({
      name: 'sipdisp_steering_events_total',
      help:
        'kernel steering: asked (delegation sent to a worker), delegated (its socket is up), ended by reason: ' +
        'bounced (the worker got what it does not hold), idle, refused (cap or bind failure), revoked (drain, POP ' +
        'data plane active), worker-gone',
      labelNames: ['event'],
      registers: [c.registry],
      collect() {
        const t = table.counts;
        this.reset();
        this.inc({ event: 'asked' }, t.asked);
        this.inc({ event: 'delegated' }, t.delegated);
        for (const [event, n] of Object.entries(t.ended)) this.inc({ event }, n);
      },
    });
    this.bouncedFrames = new Counter({
      name: 'sipdisp_steering_bounced_datagrams_total',
      help: 'kernel steering: datagrams a worker got on a connected socket and handed back to the primary',
      registers: [c.registry],
    });
  }

  /** The UDP ingress forwarded one datagram of this peer (arrived on service socket `local`) to `worker`. */
  routed(worker: string, local: number, address: string, port: number, conf: string | undefined): void {
    const a = this.table.routed(worker, local, address, port, conf);
    if (a) this.send(a);
  }

  /** A worker's `steered` report. */
  report(worker: string, m: Extract<FromWorker, { t: 'steered' }>): void {
    const peer = { local: m.local, address: m.address, port: m.port };
    if (m.ok) this.table.confirmed(worker, peer, m.gen);
    else this.table.ended(worker, peer, m.reason ?? 'refused', m.gen);
  }

  /** A bounce frame from a worker's seqpacket connection: ends the delegation if it says so, then routes it. */
  bounced(worker: string, frame: Buffer): void {
    const h = readFrameHeader(frame);
    if (!h) return;
    this.bouncedFrames.inc();
    if (h.type === FRAME_BOUNCED_UNDELEGATE)
      this.table.ended(worker, { local: h.local, address: h.address, port: h.port }, 'bounced');
    this.c.route(frame.subarray(h.payloadOffset), h.address, h.port, h.local);
  }

  /** The worker drains or is being stopped: its peers go back to the primary. */
  revokeWorker(worker: string): void {
    for (const a of this.table.revokeWorker(worker)) this.send(a);
  }

  /** Something outside changed (the POP table): revoke what is no longer allowed. */
  revalidate(): void {
    for (const a of this.table.revalidate()) this.send(a);
  }

  workerGone(worker: string): void {
    this.table.workerGone(worker);
  }

  private send(a: SteeringAction): void {
    this.c.send(a.worker, {
      t: a.type,
      local: a.peer.local,
      address: a.peer.address,
      port: a.peer.port,
      gen: a.gen,
    });
  }
}
