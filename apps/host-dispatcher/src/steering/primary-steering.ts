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
  type SteeringEnd,
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
  private readonly delegations: Gauge;
  private readonly events: Counter<'event'>;
  private readonly bouncedFrames: { inc(): void };
  /** Counted ends so far, to export only the increase (the table counts, prom-client adds). */
  private readonly exported: Record<SteeringEnd | 'asked' | 'delegated', number> = {
    asked: 0,
    delegated: 0,
    bounced: 0,
    idle: 0,
    refused: 0,
    revoked: 0,
    'worker-gone': 0,
  };

  constructor(
    private readonly c: PrimarySteeringComponents,
    init: SteeringInit,
  ) {
    this.table = new SteeringTable(c.view, init);
    this.delegations = new Gauge({
      name: 'sipdisp_steering_delegations',
      help: 'kernel steering: peers delegated to a worker (its connected socket up or being made)',
      registers: [c.registry],
    });
    this.events = new Counter({
      name: 'sipdisp_steering_events_total',
      help:
        'kernel steering: asked (delegation sent to a worker), delegated (its socket is up), ended by reason: ' +
        'bounced (the worker got what it does not hold), idle, refused (cap or bind failure), revoked (drain, POP ' +
        'data plane active), worker-gone',
      labelNames: ['event'],
      registers: [c.registry],
    });
    const bounced = new Counter({
      name: 'sipdisp_steering_bounced_datagrams_total',
      help: 'kernel steering: datagrams a worker got on a connected socket and handed back to the primary',
      registers: [c.registry],
    });
    this.bouncedFrames = bounced;
  }

  /** The UDP ingress forwarded one datagram of this peer (arrived on service socket `local`) to `worker`. */
  routed(worker: string, local: number, address: string, port: number, conf: string | undefined): void {
    const a = this.table.routed(worker, local, address, port, conf);
    if (a.length) this.apply(a);
  }

  /** A worker's `steered` report. */
  report(worker: string, m: Extract<FromWorker, { t: 'steered' }>): void {
    const peer = { local: m.local, address: m.address, port: m.port };
    if (m.ok) this.table.confirmed(worker, peer, m.gen);
    else this.table.ended(worker, peer, m.reason ?? 'refused', m.gen);
    this.sync();
  }

  /** A bounce frame from a worker's seqpacket connection: ends the delegation if it says so, then routes it. */
  bounced(worker: string, frame: Buffer): void {
    const h = readFrameHeader(frame);
    if (!h) return;
    this.bouncedFrames.inc();
    if (h.type === FRAME_BOUNCED_UNDELEGATE) {
      this.table.ended(worker, { local: h.local, address: h.address, port: h.port }, 'bounced');
      this.sync();
    }
    this.c.route(frame.subarray(h.payloadOffset), h.address, h.port, h.local);
  }

  /** The worker drains or is being stopped: its peers go back to the primary. */
  revokeWorker(worker: string): void {
    this.apply(this.table.revokeWorker(worker));
  }

  /** Something outside changed (the POP table): revoke what is no longer allowed. */
  revalidate(): void {
    this.apply(this.table.revalidate());
  }

  workerGone(worker: string): void {
    this.table.workerGone(worker);
    this.sync();
  }

  private apply(actions: SteeringAction[]): void {
    for (const a of actions)
      this.c.send(a.worker, {
        t: a.type,
        local: a.peer.local,
        address: a.peer.address,
        port: a.peer.port,
        gen: a.gen,
      });
    this.sync();
  }

  /** Exports the table's counts (the increase since the last call) and the active delegations. */
  private sync(): void {
    const t = this.table.counts;
    const now: Record<string, number> = { asked: t.asked, delegated: t.delegated, ...t.ended };
    for (const [event, n] of Object.entries(now)) {
      const key = event as keyof typeof this.exported;
      const d = n - this.exported[key];
      if (d > 0) this.events.inc({ event }, d);
      this.exported[key] = n;
    }
    this.delegations.set(this.table.active);
  }
}
