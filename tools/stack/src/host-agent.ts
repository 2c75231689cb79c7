/**
 * A POP host's conference-server agent (a sidecar beside the host's dispatcher and pop-router):
 * - registers the host in the registry as a conference server (id = the POP host id, address = the host's SIP
 *   address, its capacity) with `meta.probe = 'sip'`: the schedulers' keep-alive is a SIP OPTIONS to the host's
 *   SIP address, answered by its dispatcher's workers (contract C1);
 * - publishes its load: the participants (dialogs) its dispatcher's workers hold, from the dispatcher's control API;
 * - follows the assignment feed (contract C2) and, for every conference assigned to this host, claims it in the POP
 *   through the local pop-router's control API with the assignment's epoch (`PUT /v1/sessions/:id`, contract C3),
 *   before the first participant's packet; a later assignment (a move) carries a higher epoch and wins.
 */
import type { Clock, Logger, Startable, TimerHandle } from '@switchyard/core';
import type { RegistryStore, ServiceRecord, Watch } from '@switchyard/registry';
import { ServerAgent, type ServerAgentSettings } from '@switchyard/server-agent';

export interface HostAgentInit {
  /** POP host id: the conference-server id the schedulers assign conferences to. */
  id: string;
  /** The host's SIP address, `ip:port`. */
  sip: string;
  region: string;
  capacity: number;
  /** The host dispatcher's control API base URL (its `/workers` gives the load). */
  dispatcherUrl: string;
  /** Bearer token for the dispatcher's control API (reads that name sessions may need it). */
  dispatcherToken: string;
  /** How often the load is read from the dispatcher, ms. */
  loadEveryMs: number;
  /** The local pop-router's control API; empty: no claims (no pop-router on this host). */
  routerUrl: string;
  routerToken: string;
  /** Registry service of the schedulers' assignments. */
  assignmentService: string;
  agent?: Partial<ServerAgentSettings>;
}

interface WorkersAnswer {
  workers: { state?: { dialogs?: number } | null }[];
}

export class HostAgent implements Startable {
  private readonly agent: ServerAgent;
  private timer: TimerHandle | undefined;
  private readonly log: Logger;
  private watch: Watch | undefined;
  /** conference id → epoch claimed here */
  private readonly claimed = new Map<string, number>();
  readonly counters = { claims: 0, claimFailures: 0 };

  constructor(
    private readonly components: { store: RegistryStore; clock: Clock; logger: Logger },
    private readonly init: Readonly<HostAgentInit>,
  ) {
    this.log = components.logger;
    this.agent = new ServerAgent(components, init.agent);
  }

  async start(): Promise<void> {
    await this.agent.start({
      id: this.init.id,
      address: this.init.sip,
      region: this.init.region,
      capacity: this.init.capacity,
      probe: 'sip',
    });
    if (this.init.routerUrl) this.follow();
    this.timer = this.components.clock.setInterval(() => void this.refresh(), this.init.loadEveryMs);
    this.log.info({ id: this.init.id, sip: this.init.sip, probe: 'sip' }, 'registered');
  }

  /** Claims every conference assigned here, with its epoch, through the local pop-router. */
  private follow(): void {
    const w = this.components.store.watch(this.init.assignmentService);
    this.watch = w;
    void (async () => {
      for await (const e of w) {
        if (e.type === 'snapshot') for (const r of e.records) await this.onAssignment(r);
        else if (e.type === 'added' || e.type === 'updated') await this.onAssignment(e.record);
        else if (e.type === 'expired' || e.type === 'removed') await this.onAssignmentGone(e.record.id);
      }
    })().catch((err: unknown) => this.log.warn({ err }, 'assignment feed ended'));
  }

  /** The conference ended (or its assignment lapsed): release it in the POP, which keeps assigned ones till then. */
  private async onAssignmentGone(id: string): Promise<void> {
    if (!this.claimed.delete(id)) return;
    try {
      const res = await fetch(`${this.init.routerUrl}/v1/sessions/${encodeURIComponent(id)}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${this.init.routerToken}` },
        signal: AbortSignal.timeout(2000),
      });
      // 404 / 409: already gone, or another host owns it now; nothing of ours to release
      if (!res.ok && res.status !== 404 && res.status !== 409)
        throw new Error(`pop-router answered ${res.status}`);
    } catch (err) {
      this.log.warn({ err, conference: id }, 'could not release an ended conference');
    }
  }

  private async onAssignment(r: ServiceRecord, attempt = 1): Promise<void> {
    if (r.meta['serverId'] !== this.init.id) {
      this.claimed.delete(r.id); // moved away: the new owner claims it with a higher epoch
      return;
    }
    const epoch = Number(r.meta['epoch']);
    if (!Number.isSafeInteger(epoch) || (this.claimed.get(r.id) ?? -1) >= epoch) return;
    try {
      const res = await fetch(`${this.init.routerUrl}/v1/sessions/${encodeURIComponent(r.id)}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${this.init.routerToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ epoch }),
        signal: AbortSignal.timeout(2000),
      });
      if (!res.ok) throw new Error(`pop-router answered ${res.status}: ${await res.text()}`);
      this.claimed.set(r.id, epoch);
      this.counters.claims++;
      this.log.info({ conference: r.id, epoch }, 'claimed');
    } catch (err) {
      this.counters.claimFailures++;
      this.log.warn({ err, conference: r.id, epoch, attempt }, 'claim failed');
      // the pop-router may be restarting: try again a few times (its own next packet would claim it anyway)
      if (attempt < 5 && this.watch)
        this.components.clock.setTimeout(() => void this.onAssignment(r, attempt + 1), 500 * attempt);
    }
  }

  /** Participants held by the host's workers; undefined when the dispatcher does not answer. */
  async participants(): Promise<number | undefined> {
    try {
      const res = await fetch(`${this.init.dispatcherUrl}/workers`, {
        headers: { authorization: `Bearer ${this.init.dispatcherToken}` },
        signal: AbortSignal.timeout(this.init.loadEveryMs),
      });
      if (!res.ok) return undefined;
      const body = (await res.json()) as WorkersAnswer;
      return body.workers.reduce((n, w) => n + (w.state?.dialogs ?? 0), 0);
    } catch {
      return undefined;
    }
  }

  private async refresh(): Promise<void> {
    const n = await this.participants();
    if (n !== undefined) await this.agent.setLoad(n).catch((err: unknown) => this.log.warn({ err }, 'load'));
  }

  async stop(): Promise<void> {
    this.components.clock.clearInterval(this.timer);
    this.timer = undefined;
    this.watch?.close();
    await this.agent.stop();
  }
}
