/** Prometheus metrics of one mixer, read from the relay at scrape time. */
import { Counter, Gauge, Registry } from 'prom-client';
import type { RelayServer } from './relay/relay-server.js';

export class MixerMetrics {
  readonly registry = new Registry();
  readonly allocations = new Counter({
    name: 'mixer_allocations_total',
    help: 'allocation requests answered, by result (created, existing, refused)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  watch(relay: RelayServer): void {
    const g = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(read());
        },
      });
    g('mixer_conferences', 'conferences open', () => relay.conferenceCount);
    g('mixer_participants', 'participants learned (all conferences)', () => relay.participantCount);
    const c = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    c('mixer_rtp_received_total', 'RTP datagrams received', () => relay.stats().received);
    c(
      'mixer_rtp_relayed_total',
      'RTP datagrams sent to participants (one per copy)',
      () => relay.stats().relayed,
    );
    const d = new Counter({
      name: 'mixer_rtp_dropped_total',
      help: 'datagrams not relayed, by reason (not_rtp, too_large, full)',
      labelNames: ['reason'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        const s = relay.stats().dropped;
        d.inc({ reason: 'not_rtp' }, s.notRtp);
        d.inc({ reason: 'too_large' }, s.tooLarge);
        d.inc({ reason: 'full' }, s.full);
      },
    });
  }
}
