/** Calls of the console's own API from the page (same origin; the session cookie rides along). */
import type { ActionName, ActionParams } from '../src/shared/actions.js';
import type { SessionInfo, SessionPage } from '../src/shared/model.js';

export interface ApiError {
  error: string;
  message: string;
  tierStatus?: number;
}

async function json<T>(res: Response): Promise<T> {
  const body = (await res.json().catch(() => ({ error: 'CON_ERR_INTERNAL', message: res.statusText }))) as
    T | ApiError;
  if (!res.ok)
    throw Object.assign(new Error((body as ApiError).message), body as ApiError, { status: res.status });
  return body as T;
}

export const getSession = async (): Promise<SessionInfo> => json(await fetch('/api/session'));

export async function login(password: string): Promise<SessionInfo> {
  return json(
    await fetch('/api/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ password }),
    }),
  );
}

export async function logout(csrf: string): Promise<SessionInfo> {
  return json(await fetch('/api/logout', { method: 'POST', headers: { 'x-csrf-token': csrf } }));
}

export async function runAction(
  name: ActionName,
  params: ActionParams,
  csrf: string | null,
): Promise<{ ok: boolean; status: number }> {
  return json(
    await fetch(`/api/actions/${name}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(csrf ? { 'x-csrf-token': csrf } : {}) },
      body: JSON.stringify(params),
    }),
  );
}

/** One window of the owned sessions (sorted by id), of one owner or all. */
export async function getSessions(owner: string, offset: number, limit: number): Promise<SessionPage> {
  const q = new URLSearchParams({ offset: String(offset), limit: String(limit) });
  if (owner) q.set('owner', owner);
  return json(await fetch(`/api/sessions?${q.toString()}`));
}
