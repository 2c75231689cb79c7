/** GET/forward JSON to a tier with a timeout; failures become typed ConsoleErrors (down vs refused), by kind. */
import { ConsoleError } from '../errors.js';

export interface TierResponse {
  status: number;
  body: unknown;
}

/** One request to a tier. Throws CON_ERR_TIER_DOWN when it cannot be reached or does not answer in time. */
export async function tierRequest(
  url: string,
  init: { method?: string; token?: string; body?: unknown; timeoutMs: number },
): Promise<TierResponse> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (init.token) headers['authorization'] = `Bearer ${init.token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(url, {
      method: init.method ?? 'GET',
      headers,
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      signal: AbortSignal.timeout(init.timeoutMs),
    });
  } catch (err) {
    throw new ConsoleError('CON_ERR_TIER_DOWN', `${url}: ${reasonOf(err)}`, { cause: err });
  }
  const text = await res.text().catch(() => '');
  let body: unknown = text;
  if (text && (res.headers.get('content-type') ?? '').includes('json')) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  return { status: res.status, body };
}

/** GET that must answer 2xx. */
export async function getJson(url: string, token: string, timeoutMs: number): Promise<unknown> {
  const r = await tierRequest(url, { token, timeoutMs });
  if (r.status < 200 || r.status > 299)
    throw new ConsoleError('CON_ERR_TIER_REFUSED', `${url}: HTTP ${r.status}`, {
      details: { status: r.status },
    });
  return r.body;
}

/** A short reason from a fetch failure, by error name and code (never by message text). */
export function reasonOf(err: unknown): string {
  const e = err as { name?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'timeout';
  if (e?.cause?.code) return e.cause.code;
  return e?.cause?.message ?? e?.name ?? 'unreachable';
}

/** GET of a text answer (a `/metrics` page) that must answer 2xx. */
export async function getText(url: string, token: string, timeoutMs: number): Promise<string> {
  const body = await getJson(url, token, timeoutMs);
  if (typeof body !== 'string')
    throw new ConsoleError('CON_ERR_TIER_REFUSED', `${url}: not a text answer`, { details: { status: 200 } });
  return body;
}
