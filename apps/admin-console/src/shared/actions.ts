/**
 * The operator actions: one table, read by the page (what the confirm dialog says) and by the server (which tier
 * request it forwards). An action a tier's API does not offer is listed with the reason, never faked.
 */
import type { TierName } from './model.js';

export interface ActionParams {
  /** The target: a conference, server, worker, container or POP host id. */
  id: string;
  /** The tier process to send it to (a configured URL), for tiers with many processes. */
  endpoint?: string;
  /** conference.create only. */
  participants?: number;
  region?: string;
  /** conference.move only: the conference server to move to (absent: the scheduler picks the best other one). */
  to?: string;
}

export interface ActionSpec {
  tier: TierName;
  label: string;
  /** What the action does to the real system, for the confirm dialog and the docs. */
  describe(p: ActionParams): string;
  /** The tier request; absent when the tier's API does not offer the action. */
  request?(p: ActionParams): { method: 'POST' | 'PUT' | 'DELETE'; path: string; body?: unknown };
  /** Why the action is not available (shown in the UI instead of a button that does nothing). */
  unsupported?: string;
  /** The action needs an `endpoint` (tiers with many processes: dispatcher, balancer, pop-router). */
  needsEndpoint: boolean;
}

const enc = encodeURIComponent;

const TABLE = {
  'conference.create': {
    tier: 'scheduler',
    label: 'Create conference',
    needsEndpoint: false,
    describe: (p) =>
      `POST /v1/conferences on a live scheduler: conference "${p.id}" (${p.participants ?? 1} participants` +
      `${p.region ? `, region ${p.region}` : ''}) is queued now; the next round places it on the least-loaded ` +
      `live server with room and publishes the assignment.`,
    request: (p) => ({
      method: 'POST',
      path: '/v1/conferences',
      body: {
        id: p.id,
        expectedParticipants: p.participants ?? 1,
        ...(p.region ? { region: p.region } : {}),
      },
    }),
  },
  'server.drain': {
    tier: 'scheduler',
    label: 'Drain server',
    needsEndpoint: false,
    describe: (p) =>
      `POST /v1/servers/${p.id}/drain on a scheduler: the server's registry state becomes "draining"; the ` +
      `schedulers place no new conference on it. Conferences already there stay.`,
    request: (p) => ({ method: 'POST', path: `/v1/servers/${enc(p.id)}/drain` }),
  },
  'server.undrain': {
    tier: 'scheduler',
    label: 'Undrain server',
    needsEndpoint: false,
    describe: (p) =>
      `POST /v1/servers/${p.id}/undrain on a scheduler: the server is "serving" again and takes new conferences.`,
    request: (p) => ({ method: 'POST', path: `/v1/servers/${enc(p.id)}/undrain` }),
  },
  'conference.move': {
    tier: 'scheduler',
    label: 'Move conference',
    needsEndpoint: false,
    describe: (p) =>
      `POST /v1/conferences/${p.id}/move on a scheduler: the conference is placed on ` +
      `${p.to ? `server "${p.to}"` : 'the best other serving server with room (the scheduler chooses)'} with ` +
      `epoch + 1 and one more entry in its move history; the assignment is republished, so the new server's ` +
      `host claims it and the old one releases it. Participants' next requests go to the new host.`,
    request: (p) => ({
      method: 'POST',
      path: `/v1/conferences/${enc(p.id)}/move`,
      body: p.to ? { to: p.to } : {},
    }),
  },
  'worker.restart': {
    tier: 'dispatcher',
    label: 'Restart worker',
    needsEndpoint: true,
    describe: (p) =>
      `POST /workers/${p.id}/restart on dispatcher ${p.endpoint ?? '?'}: the worker process is stopped now ` +
      `(its dialogs are lost, as in a crash) and a replacement with a new pid takes its place.`,
    request: (p) => ({ method: 'POST', path: `/workers/${enc(p.id)}/restart` }),
  },
  'worker.drain': {
    tier: 'dispatcher',
    label: 'Drain worker',
    needsEndpoint: true,
    describe: (p) =>
      `POST /workers/${p.id}/drain on dispatcher ${p.endpoint ?? '?'}: the worker takes no new conference; ` +
      `when its dialogs end it exits and is replaced.`,
    request: (p) => ({ method: 'POST', path: `/workers/${enc(p.id)}/drain` }),
  },
  'container.drain': {
    tier: 'balancer',
    label: 'Drain container',
    needsEndpoint: true,
    describe: (p) =>
      `POST /v1/containers/${p.id}/drain on balancer ${p.endpoint ?? '?'}: the container gets no new allocation.`,
    request: (p) => ({ method: 'POST', path: `/v1/containers/${enc(p.id)}/drain` }),
  },
  'container.undrain': {
    tier: 'balancer',
    label: 'Undrain container',
    needsEndpoint: true,
    describe: (p) =>
      `POST /v1/containers/${p.id}/undrain on balancer ${p.endpoint ?? '?'}: the container serves again.`,
    request: (p) => ({ method: 'POST', path: `/v1/containers/${enc(p.id)}/undrain` }),
  },
  'container.remove': {
    tier: 'balancer',
    label: 'Remove container',
    needsEndpoint: true,
    describe: (p) =>
      `DELETE /v1/containers/${p.id} on balancer ${p.endpoint ?? '?'}: the container leaves its queue now.`,
    request: (p) => ({ method: 'DELETE', path: `/v1/containers/${enc(p.id)}` }),
  },
  'pop.drain': {
    tier: 'pop-router',
    label: 'Drain POP host',
    needsEndpoint: true,
    describe: (p) =>
      `POST /v1/drain on pop-router ${p.endpoint ?? '?'} (host ${p.id}): the host claims no new session.`,
    request: () => ({ method: 'POST', path: '/v1/drain' }),
  },
  'pop.undrain': {
    tier: 'pop-router',
    label: 'Undrain POP host',
    needsEndpoint: true,
    describe: (p) =>
      `POST /v1/undrain on pop-router ${p.endpoint ?? '?'} (host ${p.id}): the host claims sessions again.`,
    request: () => ({ method: 'POST', path: '/v1/undrain' }),
  },
} satisfies Record<string, ActionSpec>;

export type ActionName = keyof typeof TABLE;
export const ACTIONS: Readonly<Record<ActionName, ActionSpec>> = TABLE;

export function isActionName(s: string): s is ActionName {
  return Object.prototype.hasOwnProperty.call(ACTIONS, s);
}

export function actionSpec(name: ActionName): ActionSpec {
  return ACTIONS[name];
}
