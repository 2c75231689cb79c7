/** The console page: live state over SSE, tabs for the views, login, and the confirm dialog of every action. */
import { render, type VNode } from 'preact';
import { useEffect, useLayoutEffect, useState } from 'preact/hooks';
import { ACTIONS, type ActionName, type ActionParams } from '../src/shared/actions.js';
import type { SessionInfo, Snapshot } from '../src/shared/model.js';
import { getSession, login, logout, runAction, type ApiError } from './api.js';
import { Live, type LiveStatus } from './live.js';
import { html } from './ui.js';
import {
  AuditView,
  ConferencesView,
  HostsView,
  QueuesView,
  SchedulersView,
  ServersView,
  TopologyView,
  WorkersView,
  type ViewCtx,
} from './views.js';
import './style.css';

const TABS: { id: string; label: string; view: (p: { s: Snapshot; ctx: ViewCtx }) => VNode }[] = [
  { id: 'topology', label: 'Topology', view: TopologyView },
  { id: 'schedulers', label: 'Schedulers', view: SchedulersView },
  { id: 'servers', label: 'Conference servers', view: ServersView },
  { id: 'conferences', label: 'Conferences', view: ConferencesView },
  { id: 'hosts', label: 'POP hosts', view: HostsView },
  { id: 'workers', label: 'Workers', view: WorkersView },
  { id: 'queues', label: 'Balancer queues', view: QueuesView },
  { id: 'audit', label: 'Audit log', view: AuditView },
];

const live = new Live();

interface Pending {
  name: ActionName;
  params: ActionParams;
  text: string;
}

/** Where a move goes: the scheduler's choice, or a serving server other than the conference's own. */
function MoveTarget(props: { s: Snapshot; pending: Pending; set: (p: Pending) => void }): VNode {
  const { s, pending, set } = props;
  const current = s.conferences.find((c) => c.id === pending.params.id)?.serverId ?? null;
  const choices = s.servers.filter((x) => x.id !== current && x.state === 'serving');
  const pick = (to: string) => {
    const params: ActionParams = { id: pending.params.id };
    if (to) params.to = to;
    set({ name: pending.name, params, text: ACTIONS[pending.name].describe(params) });
  };
  return html`<label class="move-to"
    >from <b>${current ?? '–'}</b> to
    <select
      data-testid="move-to"
      value=${pending.params.to ?? ''}
      onChange=${(e: Event) => pick((e.target as HTMLSelectElement).value)}
    >
      <option value="">the best other server (the scheduler chooses)</option>
      ${choices.map((x) => html`<option value=${x.id}>${x.id} (${x.load} / ${x.capacity})</option>`)}
    </select></label
  >`;
}

function tabFromHash(): string {
  const h = location.hash.slice(1);
  return TABS.some((t) => t.id === h) ? h : 'topology';
}

function App(): VNode {
  const [status, setStatus] = useState<LiveStatus>(live.current);
  const [session, setSession] = useState<SessionInfo>({ role: 'viewer', csrf: null });
  const [tab, setTab] = useState(tabFromHash());
  const [pending, setPending] = useState<Pending | null>(null);
  const [toast, setToast] = useState<{ ok: boolean; text: string } | null>(null);
  const [password, setPassword] = useState('');
  const [loginError, setLoginError] = useState('');

  useEffect(() => live.subscribe(setStatus), []);
  useEffect(() => {
    void getSession().then(setSession, () => undefined);
    const onHash = () => setTab(tabFromHash());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  // after the DOM holds this render: how long from the event's arrival to here (for tests and the benchmark)
  useLayoutEffect(() => {
    const t = status.receivedAt;
    if (!t) return;
    window.__console.lastRenderMs = performance.now() - t;
    if (window.__console.renders === 0) performance.mark('first-render:committed');
    window.__console.renders++;
    // the frame after this commit has been laid out and painted by the time a task queued from its rAF runs
    requestAnimationFrame(() => setTimeout(() => (window.__console.lastFrameMs = performance.now() - t), 0));
  }, [status.receivedAt]);

  const s = status.snapshot;
  const ctx: ViewCtx = {
    role: session.role,
    now: s?.at ?? 0,
    ask: (name, params) => setPending({ name, params, text: ACTIONS[name].describe(params) }),
  };

  const doLogin = async (e: Event) => {
    e.preventDefault();
    setLoginError('');
    try {
      setSession(await login(password));
      setPassword('');
    } catch (err) {
      setLoginError((err as ApiError).message);
    }
  };
  const confirm = async () => {
    const p = pending;
    setPending(null);
    if (!p) return;
    try {
      const r = await runAction(p.name, p.params, session.csrf);
      setToast({ ok: true, text: `${ACTIONS[p.name].label} ${p.params.id}: done (HTTP ${r.status})` });
    } catch (err) {
      setToast({ ok: false, text: `${ACTIONS[p.name].label} ${p.params.id}: ${(err as ApiError).message}` });
    }
  };
  const View = TABS.find((t) => t.id === tab)!.view;
  return html`<div class="shell">
    <header>
      <h1>Switchyard</h1>
      <span class=${`conn ${status.connected ? 'on' : 'off'}`} data-testid="connection"
        >${status.connected ? 'live' : 'reconnecting…'}</span
      >
      <span class="muted">seq ${s?.seq ?? '–'}</span>
      <div class="spacer"></div>
      ${
        session.role === 'operator'
          ? html`<span data-testid="role">operator</span>
              <button
                data-testid="logout"
                onClick=${async () => setSession(await logout(session.csrf ?? ''))}
              >
                Log out
              </button>`
          : html`<form class="login" data-testid="login" onSubmit=${doLogin}>
              <span data-testid="role">viewer</span>
              <input
                type="password"
                name="password"
                placeholder="operator password"
                autocomplete="current-password"
                value=${password}
                onInput=${(e: Event) => setPassword((e.target as HTMLInputElement).value)}
              />
              <button type="submit">Log in</button>
              ${loginError ? html`<span class="error" data-testid="login-error">${loginError}</span>` : null}
            </form>`
      }
    </header>
    <nav>
      ${TABS.map((t) => html`<a href=${`#${t.id}`} class=${t.id === tab ? 'active' : ''} data-tab=${t.id}>${t.label}</a>`)}
    </nav>
    ${toast ? html`<div class=${`toast ${toast.ok ? 'ok' : 'bad'}`} data-testid="toast" onClick=${() => setToast(null)}>${toast.text}</div>` : null}
    <main>${s ? html`<${View} s=${s} ctx=${ctx} />` : html`<div class="empty">connecting…</div>`}</main>
    ${
      pending
        ? html`<div class="modal-back">
            <div class="modal" role="dialog" data-testid="confirm">
              <h3>${ACTIONS[pending.name].label}: ${pending.params.id}</h3>
              ${pending.name === 'conference.move' && s ? html`<${MoveTarget} s=${s} pending=${pending} set=${setPending} />` : null}
              <p data-testid="confirm-text">${pending.text}</p>
              <div class="buttons">
                <button data-testid="confirm-cancel" onClick=${() => setPending(null)}>Cancel</button>
                <button data-testid="confirm-ok" class="primary" onClick=${confirm}>Confirm</button>
              </div>
            </div>
          </div>`
        : null
    }
  </div>`;
}

live.connect();
render(html`<${App} />`, document.getElementById('app')!);
