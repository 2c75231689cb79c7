/** One function per view; each takes the snapshot and what the viewer may do. */
import type { VNode } from 'preact';
import { useState } from 'preact/hooks';
import { ACTIONS, type ActionName, type ActionParams } from '../src/shared/actions.js';
import type {
  ConferenceRow,
  ContainerRow,
  Endpoint,
  PopHostRow,
  Role,
  ServerRow,
  SessionRow,
  Snapshot,
  TierName,
  WorkerRow,
} from '../src/shared/model.js';
import { LoadPlot } from './plot.js';
import { useSessionWindow } from './sessions.js';
import { Badge, VTable, ago, html } from './ui.js';

export interface ViewCtx {
  role: Role;
  /** Opens the confirm dialog of an action. */
  ask: (name: ActionName, params: ActionParams) => void;
  now: number;
}

function ActionButton(props: { ctx: ViewCtx; name: ActionName; params: ActionParams }): VNode {
  const spec = ACTIONS[props.name];
  const canAct = props.ctx.role === 'operator';
  const title = spec.unsupported
    ? `not available: ${spec.unsupported}`
    : canAct
      ? spec.describe(props.params)
      : 'log in as operator to act';
  return html`<button
    class="act"
    data-action=${props.name}
    data-target=${props.params.id}
    disabled=${!canAct || !!spec.unsupported}
    title=${title}
    onClick=${() => props.ctx.ask(props.name, props.params)}
  >
    ${spec.label.split(' ')[0]}
  </button>`;
}

const TIERS: { tier: TierName; title: string }[] = [
  { tier: 'registry', title: 'Registry (Redis)' },
  { tier: 'scheduler', title: 'Tier 1 · schedulers' },
  { tier: 'pop-router', title: 'Tier 2 · POP routers' },
  { tier: 'dispatcher', title: 'Tier 3 · host dispatchers' },
  { tier: 'balancer', title: 'Tier 4 · container balancers' },
];

function EndpointBox(props: { e: Endpoint; now: number; children?: unknown }): VNode {
  const e = props.e;
  return html`<div
    class=${`proc ${e.up ? 'up' : 'down'}`}
    data-testid="endpoint"
    data-tier=${e.tier}
    data-up=${String(e.up)}
  >
    <div class="proc-url">${e.url}</div>
    <div class="proc-state">
      ${e.up ? html`<${Badge} kind="ok">up</${Badge}>` : html`<${Badge} kind="bad">down</${Badge}> ${e.error ?? ''}`}
      ${e.latencyMs !== undefined && e.up ? html` · ${e.latencyMs} ms` : null}
    </div>
    ${props.children}
  </div>`;
}

export function TopologyView(props: { s: Snapshot; ctx: ViewCtx }): VNode {
  const { s, ctx } = props;
  const count: Record<string, string> = {
    registry: `${s.servers.length} servers · ${s.conferences.filter((c) => c.state === 'placed').length} assignments`,
    scheduler: `${s.schedulers.length} schedulers live`,
    'pop-router': `${s.hosts.length} hosts · ${s.sessions.total} sessions owned`,
    dispatcher: `${s.workers.length} workers · ${s.workers.reduce((a, w) => a + w.dialogs, 0)} dialogs`,
    balancer: `${s.queues.reduce((a, q) => a + q.containers.length, 0)} containers in ${s.queues.length} queues`,
  };
  const l = s.rates.links;
  const rate = (name: string, label: string, v: number) =>
    html`<span class="rate" data-rate=${name} data-value=${String(v)}>${label} <b>${v}/s</b></span>`;
  const services = Object.entries(l.requestsPerS).sort(([a], [b]) => a.localeCompare(b));
  // each link between two columns, with its rates (the tiers' own counters, read from their /metrics)
  const flows = [
    html`<span>servers, assignments ⇄</span
      >${rate('feed-placements', 'placements seen', s.rates.placementsPerS)}${rate('feed-moves', 'moves', s.rates.movesPerS)}`,
    html`<span>assignments (feed) →</span>${rate('placements', 'placements', l.placementsPerS)}`,
    html`<span>SIP to the owner →</span
      >${rate('forwards', 'forwarded', l.forwardsPerS)}${rate('datagrams', 'datagrams in', l.datagramsPerS)}`,
    html`<span>media allocations →</span>${rate('to-workers', 'to workers', l.toWorkersPerS)}${
        services.length === 0
          ? rate('requests', 'requests', 0)
          : services.map(([svc, v]) => rate(`requests:${svc}`, `${svc} requests`, v))
      }`,
  ];
  const linkIds = ['registry-scheduler', 'scheduler-pop', 'pop-dispatcher', 'dispatcher-balancer'];
  const perProcess = new Map(s.rates.traffic.map((t) => [`${t.tier} ${t.url}`, t.perS]));
  return html`<section data-testid="view-topology">
    <div class="topology">
      ${TIERS.map(
        (t, i) =>
          html`<div class="tier-col" data-testid=${`tier-${t.tier}`}>
              <h3>${t.title}</h3>
              <div class="tier-count">${count[t.tier]}</div>
              ${s.endpoints
                .filter((e) => e.tier === t.tier)
                .map(
                  (e) =>
                    html`<${EndpointBox} e=${e} now=${ctx.now}>${ProcessRates(perProcess.get(`${e.tier} ${e.url}`))}</${EndpointBox}>`,
                )}
              ${s.endpoints.some((e) => e.tier === t.tier) ? null : html`<div class="muted">not configured</div>`}
            </div>
            ${i < TIERS.length - 1 ? html`<div class="flow" data-testid=${`link-${linkIds[i]}`}>${flows[i]}</div>` : null}`,
      )}
    </div>
  </section>`;
}

/** A process's own traffic (its counters per second), under its box. */
function ProcessRates(perS: Record<string, number> | undefined): VNode | null {
  if (!perS) return null;
  const entries = Object.entries(perS).sort(([a], [b]) => a.localeCompare(b));
  return html`<div class="proc-rates" data-testid="proc-rates">
    ${entries.map(([k, v]) => html`<span data-rate=${k} data-value=${String(v)}>${k} ${v}/s</span> `)}
  </div>`;
}

export function SchedulersView(props: { s: Snapshot; ctx: ViewCtx }): VNode {
  const { s, ctx } = props;
  return html`<section data-testid="view-schedulers">
    <table class="grid" data-testid="schedulers">
      <thead>
        <tr>
          <th>id</th>
          <th>address</th>
          <th>region</th>
          <th>round</th>
          <th>share / total</th>
          <th>N</th>
          <th>claimed</th>
          <th>placed</th>
          <th>unplaceable</th>
          <th>last round</th>
        </tr>
      </thead>
      <tbody>
        ${s.schedulers.map(
          (r) =>
            html`<tr data-key=${r.id}>
              <td>${r.id}</td>
              <td>${r.address}</td>
              <td>${r.region}</td>
              <td>${r.lastShare?.round ?? '–'}</td>
              <td>${r.lastShare ? `${r.lastShare.share} / ${r.lastShare.total}` : '–'}</td>
              <td>${r.lastShare?.n ?? '–'}</td>
              <td>${r.lastShare?.claimed ?? '–'}</td>
              <td>${r.lastShare?.placed ?? '–'}</td>
              <td>${r.lastShare?.unplaceable ?? '–'}</td>
              <td>${ago(r.lastShare?.at, ctx.now)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${s.schedulers.length === 0 ? html`<div class="empty">no scheduler is live</div>` : null}
  </section>`;
}

const healthKind: Record<string, string> = {
  up: 'ok',
  draining: 'warn',
  'marked-down': 'bad',
  expired: 'bad',
};

export function ServersView(props: { s: Snapshot; ctx: ViewCtx }): VNode {
  const { s, ctx } = props;
  return html`<section data-testid="view-servers">
    <h3>Load over time</h3>
    <${LoadPlot} series=${s.series} />
    <${VTable}
      testid="servers"
      rows=${s.servers}
      rowKey=${(r: ServerRow) => r.id}
      columns=${[
        { label: 'server', width: '12rem', cell: (r: ServerRow) => r.id },
        { label: 'address', width: '10rem', cell: (r: ServerRow) => r.address },
        { label: 'region', width: '6rem', cell: (r: ServerRow) => r.region },
        {
          label: 'health',
          width: '7rem',
          cell: (r: ServerRow) => html`<${Badge} kind=${healthKind[r.health]}>${r.health}</${Badge}>`,
        },
        {
          label: 'load / capacity',
          width: '8rem',
          cell: (r: ServerRow) => html`<span class="num">${r.load} / ${r.capacity}</span>`,
        },
        {
          label: 'reserved',
          width: '6rem',
          cell: (r: ServerRow) => html`<span class="num">${r.reserved}</span>`,
        },
        {
          label: 'conferences',
          width: '7rem',
          cell: (r: ServerRow) => html`<span class="num">${r.conferences}</span>`,
        },
        {
          label: 'actions',
          width: '1fr',
          cell: (r: ServerRow) =>
            r.state === 'draining'
              ? html`<${ActionButton} ctx=${ctx} name="server.undrain" params=${{ id: r.id }} />`
              : html`<${ActionButton} ctx=${ctx} name="server.drain" params=${{ id: r.id }} />`,
        },
      ]}
    />
  </section>`;
}

export function ConferencesView(props: { s: Snapshot; ctx: ViewCtx }): VNode {
  const { s, ctx } = props;
  const [filter, setFilter] = useState('');
  const [id, setId] = useState('');
  const [participants, setParticipants] = useState('4');
  const rows = filter
    ? s.conferences.filter((c) => c.id.includes(filter) || (c.serverId ?? '').includes(filter))
    : s.conferences;
  const history = (c: ConferenceRow) =>
    c.history.map((m) => `${m.from ?? '∅'}→${m.to} (e${m.epoch})`).join(' · ') || '–';
  return html`<section data-testid="view-conferences">
    <form
      class="inline-form"
      data-testid="create-conference"
      onSubmit=${(e: Event) => {
        e.preventDefault();
        ctx.ask('conference.create', { id, participants: Number(participants) });
      }}
    >
      <input
        name="conference-id"
        placeholder="conference id"
        value=${id}
        onInput=${(e: Event) => setId((e.target as HTMLInputElement).value)}
      />
      <input
        name="participants"
        type="number"
        min="1"
        value=${participants}
        onInput=${(e: Event) => setParticipants((e.target as HTMLInputElement).value)}
      />
      <button
        type="submit"
        disabled=${ctx.role !== 'operator' || !id}
        title=${ctx.role === 'operator' ? '' : 'log in as operator to act'}
      >
        Create conference
      </button>
    </form>
    <input
      class="filter"
      placeholder="filter by conference or server"
      value=${filter}
      onInput=${(e: Event) => setFilter((e.target as HTMLInputElement).value)}
    />
    <span class="muted"> ${rows.length} of ${s.conferences.length}</span>
    <${VTable}
      testid="conferences"
      rows=${rows}
      rowKey=${(r: ConferenceRow) => r.id}
      columns=${[
        { label: 'conference', width: '12rem', cell: (r: ConferenceRow) => r.id },
        { label: 'state', width: '6rem', cell: (r: ConferenceRow) => r.state },
        { label: 'server', width: '10rem', cell: (r: ConferenceRow) => r.serverId ?? '–' },
        {
          label: 'epoch',
          width: '5rem',
          cell: (r: ConferenceRow) => html`<span class="num">${r.epoch ?? '–'}</span>`,
        },
        {
          label: 'moves',
          width: '4rem',
          cell: (r: ConferenceRow) => html`<span class="num">${r.moves}</span>`,
        },
        {
          label: 'participants',
          width: '6rem',
          cell: (r: ConferenceRow) => html`<span class="num">${r.participants}</span>`,
        },
        { label: 'placements seen', width: '1fr', cell: history },
        {
          label: '',
          width: '4rem',
          cell: (r: ConferenceRow) =>
            r.state === 'placed'
              ? html`<${ActionButton} ctx=${ctx} name="conference.move" params=${{ id: r.id }} />`
              : null,
        },
      ]}
    />
  </section>`;
}

const memberKind: Record<string, string> = { alive: 'ok', suspect: 'warn', dead: 'bad', left: 'muted' };

export function HostsView(props: { s: Snapshot; ctx: ViewCtx }): VNode {
  const { s, ctx } = props;
  const [owner, setOwner] = useState('');
  const estimate = owner ? (s.hosts.find((x) => x.id === owner)?.sessions ?? 0) : s.sessions.total;
  const sessions = useSessionWindow(s.sessions, owner, estimate);
  return html`<section data-testid="view-hosts">
    <${VTable}
      testid="hosts"
      rows=${s.hosts}
      rowKey=${(r: PopHostRow) => r.id}
      columns=${[
        {
          label: 'host',
          width: '10rem',
          cell: (r: PopHostRow) => html`<a href="#hosts" onClick=${() => setOwner(r.id)}>${r.id}</a>`,
        },
        { label: 'address', width: '9rem', cell: (r: PopHostRow) => r.address },
        { label: 'tunnel', width: '9rem', cell: (r: PopHostRow) => r.tunnel },
        {
          label: 'state',
          width: '6rem',
          cell: (r: PopHostRow) => html`<${Badge} kind=${memberKind[r.state]}>${r.state}</${Badge}>`,
        },
        {
          label: 'inc.',
          width: '4rem',
          cell: (r: PopHostRow) => html`<span class="num">${r.incarnation}</span>`,
        },
        { label: 'draining', width: '5rem', cell: (r: PopHostRow) => (r.draining ? 'yes' : 'no') },
        {
          label: 'sessions',
          width: '5rem',
          cell: (r: PopHostRow) => html`<span class="num">${r.sessions}</span>`,
        },
        {
          label: 'actions',
          width: '1fr',
          cell: (r: PopHostRow) =>
            r.router
              ? html`<${ActionButton}
                  ctx=${ctx}
                  name=${r.draining ? 'pop.undrain' : 'pop.drain'}
                  params=${{ id: r.id, endpoint: r.router }}
                />`
              : html`<span class="muted">no control URL</span>`,
        },
      ]}
    />
    <h3>
      Owned sessions
      ${owner ? html`of ${owner} <a href="#hosts" onClick=${() => setOwner('')}>(all)</a>` : ''}
    </h3>
    <${VTable}
      testid="sessions"
      count=${sessions.count}
      rowAt=${sessions.rowAt}
      onRange=${sessions.onRange}
      rowKey=${(r: SessionRow) => r.id}
      columns=${[
        { label: 'session', width: '14rem', cell: (r: SessionRow) => r.id },
        { label: 'owner', width: '10rem', cell: (r: SessionRow) => r.owner },
        { label: 'epoch', width: '5rem', cell: (r: SessionRow) => html`<span class="num">${r.epoch}</span>` },
        {
          label: 'version',
          width: '1fr',
          cell: (r: SessionRow) => html`<span class="num">${r.version}</span>`,
        },
      ]}
    />
  </section>`;
}

export function WorkersView(props: { s: Snapshot; ctx: ViewCtx }): VNode {
  const { s, ctx } = props;
  const hosts = [...new Set(s.workers.map((w) => w.dispatcher))];
  const down = s.endpoints.filter((e) => e.tier === 'dispatcher' && !e.up);
  return html`<section data-testid="view-workers">
    ${down.map((e) => html`<div class="down-note">dispatcher ${e.url} is down: ${e.error}</div>`)}
    ${hosts.map(
      (d) =>
        html`<h3>${d}</h3>
          <${VTable}
            testid="workers"
            rows=${s.workers.filter((w) => w.dispatcher === d)}
            rowKey=${(r: WorkerRow) => `${d} ${r.id}`}
            columns=${[
              { label: 'worker', width: '5rem', cell: (r: WorkerRow) => r.id },
              {
                label: 'pid',
                width: '6rem',
                cell: (r: WorkerRow) => html`<span class="num" data-testid="pid">${r.pid}</span>`,
              },
              { label: 'status', width: '6rem', cell: (r: WorkerRow) => r.status },
              {
                label: 'load',
                width: '4rem',
                cell: (r: WorkerRow) => html`<span class="num">${r.load}</span>`,
              },
              {
                label: 'dialogs',
                width: '5rem',
                cell: (r: WorkerRow) => html`<span class="num">${r.dialogs}</span>`,
              },
              { label: 'conferences', width: '1fr', cell: (r: WorkerRow) => r.conferences.join(', ') || '–' },
              {
                label: 'actions',
                width: '9rem',
                cell: (r: WorkerRow) =>
                  html`<${ActionButton}
                      ctx=${ctx}
                      name="worker.restart"
                      params=${{ id: r.id, endpoint: d }}
                    />
                    <${ActionButton} ctx=${ctx} name="worker.drain" params=${{ id: r.id, endpoint: d }} />`,
              },
            ]}
          />`,
    )}
    ${hosts.length === 0 && down.length === 0 ? html`<div class="empty">no dispatcher configured</div>` : null}
  </section>`;
}

export function QueuesView(props: { s: Snapshot; ctx: ViewCtx }): VNode {
  const { s, ctx } = props;
  const down = s.endpoints.filter((e) => e.tier === 'balancer' && !e.up);
  return html`<section data-testid="view-queues">
    ${down.map((e) => html`<div class="down-note">balancer ${e.url} is down: ${e.error}</div>`)}
    ${s.queues.map(
      (q) =>
        html`<h3>${q.service} <span class="muted">@ ${q.balancer}</span></h3>
          <${VTable}
            testid="containers"
            rows=${q.containers}
            rowKey=${(r: ContainerRow) => r.id}
            columns=${[
              { label: '#', width: '3rem', cell: (r: ContainerRow) => String(q.containers.indexOf(r) + 1) },
              { label: 'container', width: '10rem', cell: (r: ContainerRow) => r.id },
              { label: 'mode', width: '5rem', cell: (r: ContainerRow) => r.mode },
              { label: 'address', width: '9rem', cell: (r: ContainerRow) => r.address ?? '–' },
              {
                label: 'load',
                width: '10rem',
                cell: (r: ContainerRow) =>
                  html`<span class="bar"
                      ><span
                        style=${`width:${r.capacity ? Math.min(100, (100 * r.reportedLoad) / r.capacity) : 0}%`}
                      ></span
                    ></span>
                    <span class="num">${r.reportedLoad}/${r.capacity}</span>`,
              },
              {
                label: 'in flight',
                width: '5rem',
                cell: (r: ContainerRow) => html`<span class="num">${r.inFlight}</span>`,
              },
              {
                label: 'score',
                width: '5rem',
                cell: (r: ContainerRow) => html`<span class="num">${r.score.toFixed(2)}</span>`,
              },
              {
                label: 'state',
                width: '6rem',
                cell: (r: ContainerRow) =>
                  html`<${Badge} kind=${r.state === 'serving' ? 'ok' : 'warn'}>${r.state}</${Badge}>`,
              },
              {
                label: 'actions',
                width: '1fr',
                cell: (r: ContainerRow) =>
                  html`<${ActionButton}
                      ctx=${ctx}
                      name=${r.state === 'draining' ? 'container.undrain' : 'container.drain'}
                      params=${{ id: r.id, endpoint: q.balancer }}
                    />
                    <${ActionButton}
                      ctx=${ctx}
                      name="container.remove"
                      params=${{ id: r.id, endpoint: q.balancer }}
                    />`,
              },
            ]}
          />`,
    )}
    ${s.queues.length === 0 && down.length === 0 ? html`<div class="empty">no balancer configured</div>` : null}
  </section>`;
}

export function AuditView(props: { s: Snapshot; ctx: ViewCtx }): VNode {
  const rows = [...props.s.audit].reverse();
  return html`<section data-testid="view-audit">
    <table class="grid" data-testid="audit">
      <thead>
        <tr>
          <th>#</th>
          <th>time</th>
          <th>role</th>
          <th>action</th>
          <th>target</th>
          <th>result</th>
          <th>detail</th>
        </tr>
      </thead>
      <tbody>
        ${rows.map(
          (a) =>
            html`<tr data-key=${String(a.seq)} data-action=${a.action} data-ok=${String(a.ok)}>
              <td>${a.seq}</td>
              <td>${new Date(a.at).toISOString().slice(11, 23)}</td>
              <td>${a.role}</td>
              <td>${a.action}</td>
              <td>${a.target}</td>
              <td>
                ${a.ok ? html`<${Badge} kind="ok">ok</${Badge}>` : html`<${Badge} kind="bad">failed</${Badge}>`}
              </td>
              <td class="detail">${a.detail}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${rows.length === 0 ? html`<div class="empty">no action yet</div>` : null}
  </section>`;
}
