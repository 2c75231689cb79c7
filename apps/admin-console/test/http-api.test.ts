/**
 * The console's HTTP rules over a real socket, with an injected clock: viewers cannot act, mutations need the
 * session cookie, its CSRF token and a same-origin request, logins are rate-limited per address, unsupported
 * and misdirected actions are refused before anything is sent, a tier that is down answers 502 and is audited.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '@switchyard/core';
import { freePort } from '@switchyard/testing';
import { ConsoleApp, ConsoleSettings } from '../src/index.js';

const HOST = '127.0.14.1';
let app: ConsoleApp;
let clock: ManualClock;
let tier: http.Server;
let tierUrl: string;
const received: { method: string; url: string; auth: string | undefined; body?: string }[] = [];
let deadUrl: string;

beforeAll(async () => {
  // a scheduler-shaped endpoint that records what the console forwards
  tier = http.createServer((req, res) => {
    const entry: (typeof received)[number] = {
      method: req.method ?? '',
      url: req.url ?? '',
      auth: req.headers.authorization,
    };
    received.push(entry);
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    // answered once the body is read: the test sees what was sent when the console's call returns
    req.on('end', () => {
      if (body) entry.body = body;
      res.writeHead(req.url?.startsWith('/v1/servers/nope') ? 404 : 200, {
        'content-type': 'application/json',
      });
      res.end(
        req.method === 'GET'
          ? req.url?.startsWith('/v1/conferences')
            ? '{"items":[]}'
            : '[]'
          : '{"ok":true}',
      );
    });
  });
  await new Promise<void>((r) => tier.listen(0, HOST, r));
  tierUrl = `http://${HOST}:${(tier.address() as AddressInfo).port}`;
  deadUrl = `http://${HOST}:${await freePort(HOST)}`;
  clock = new ManualClock(1_800_000_000_000);
  app = new ConsoleApp(
    { clock },
    ConsoleSettings.parse({
      host: HOST,
      port: 0,
      schedulerUrl: [tierUrl],
      dispatcherUrl: [deadUrl],
      schedulerToken: 'sched-token-1',
      dispatcherToken: 'disp-token-1',
      password: 'operator-password',
      loginAttempts: 2,
      loginWindowMs: 60_000,
      actionTimeoutMs: 10_000,
      // generous: the first poll runs at start, on a machine shared with other builds
      pollTimeoutMs: 10_000,
    }),
  );
  await app.start();
});

afterAll(async () => {
  await app?.stop();
  tier?.closeAllConnections();
  await new Promise((r) => tier?.close(r));
});

/** Mutations the tier received (its GETs are the console's polls, which an action also triggers at once). */
const sent = () => received.filter((r) => r.method !== 'GET').length;

const post = (p: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${app.url}${p}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

async function login(): Promise<{ cookie: string; csrf: string }> {
  const r = await post('/api/login', { password: 'operator-password' });
  expect(r.status).toBe(200);
  const setCookie = r.headers.get('set-cookie')!;
  expect(setCookie).toMatch(/HttpOnly/);
  expect(setCookie).toMatch(/SameSite=Strict/);
  return { cookie: setCookie.split(';')[0]!, csrf: ((await r.json()) as { csrf: string }).csrf };
}

describe('console HTTP API', () => {
  it('serves /healthz with the tiers, /metrics, the state, and an event stream that starts with the snapshot', async () => {
    const h = (await (await fetch(`${app.url}/healthz`)).json()) as {
      ok: boolean;
      tiers: { tier: string; up: boolean }[];
    };
    expect(h.tiers).toEqual([
      { tier: 'scheduler', url: tierUrl, up: true },
      { tier: 'dispatcher', url: deadUrl, up: false },
    ]);
    expect(await (await fetch(`${app.url}/metrics`)).text()).toContain('console_poll_errors_total');
    const state = (await (await fetch(`${app.url}/api/state`)).json()) as {
      seq: number;
      endpoints: unknown[];
    };
    expect(state.endpoints).toHaveLength(2);
    const res = await fetch(`${app.url}/api/events`);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value);
    expect(text).toMatch(/^retry: 1000\nevent: snapshot\ndata: \{/);
    await reader.cancel();
  });

  it('serves the sessions a window at a time, and refuses a bad window with CON_ERR_BAD_REQUEST', async () => {
    const page = (await (await fetch(`${app.url}/api/sessions?offset=0&limit=50`)).json()) as {
      total: number;
      rows: unknown[];
      owner: string | null;
    };
    // no pop-router is configured here: an empty window, all owners
    expect(page).toMatchObject({ total: 0, rows: [], owner: null, offset: 0 });
    for (const q of ['limit=100000', 'offset=-1', 'limit=abc', 'offset=1.5']) {
      const r = await fetch(`${app.url}/api/sessions?${q}`);
      expect(r.status, q).toBe(400);
      expect(((await r.json()) as { error: string }).error).toBe('CON_ERR_BAD_REQUEST');
    }
  });

  it('a viewer cannot act: 401 without a session; with one, a missing CSRF token or a foreign Origin is 403', async () => {
    const n = sent();
    expect((await post('/api/actions/server.drain', { id: 'a' })).status).toBe(401);
    const { cookie, csrf } = await login();
    expect((await post('/api/actions/server.drain', { id: 'a' }, { cookie })).status).toBe(403);
    expect(
      (await post('/api/actions/server.drain', { id: 'a' }, { cookie, 'x-csrf-token': 'nope' })).status,
    ).toBe(403);
    expect(
      (
        await post(
          '/api/actions/server.drain',
          { id: 'a' },
          { cookie, 'x-csrf-token': csrf, origin: 'http://evil.example' },
        )
      ).status,
    ).toBe(403);
    expect(sent()).toBe(n);
    const ok = await post(
      '/api/actions/server.drain',
      { id: 'a' },
      { cookie, 'x-csrf-token': csrf, origin: app.url },
    );
    expect(ok.status).toBe(200);
    expect(received.filter((r) => r.method === 'POST').at(-1)).toEqual({
      method: 'POST',
      url: '/v1/servers/a/drain',
      auth: 'Bearer sched-token-1',
    });
    // logged out: the same cookie no longer acts
    expect((await post('/api/logout', {}, { cookie, 'x-csrf-token': csrf })).status).toBe(200);
    expect(
      (await post('/api/actions/server.drain', { id: 'a' }, { cookie, 'x-csrf-token': csrf })).status,
    ).toBe(401);
  });

  it('refuses bad, unsupported and misdirected actions before sending anything; audits tier failures', async () => {
    const { cookie, csrf } = await login();
    const h = { cookie, 'x-csrf-token': csrf };
    const n = sent();
    const err = async (r: Response) => [r.status, ((await r.json()) as { error: string }).error];
    expect(await err(await post('/api/actions/nope', { id: 'a' }, h))).toEqual([400, 'CON_ERR_BAD_REQUEST']);
    expect(await err(await post('/api/actions/server.drain', { id: '../x' }, h))).toEqual([
      400,
      'CON_ERR_BAD_REQUEST',
    ]);
    expect(await err(await post('/api/actions/server.drain', { id: 'a', extra: 1 }, h))).toEqual([
      400,
      'CON_ERR_BAD_REQUEST',
    ]);
    expect(await err(await post('/api/actions/conference.move', { id: 'c1', to: '../x' }, h))).toEqual([
      400,
      'CON_ERR_BAD_REQUEST',
    ]);
    expect(
      await err(await post('/api/actions/worker.restart', { id: 'w1', endpoint: 'http://127.0.0.1:1' }, h)),
    ).toEqual([400, 'CON_ERR_UNKNOWN_ENDPOINT']);
    expect(
      await err(await post('/api/actions/container.drain', { id: 'm1', endpoint: 'http://b' }, h)),
    ).toEqual([503, 'CON_ERR_NO_TOKEN']);
    expect(sent()).toBe(n);
    // the tier refuses: 502 with its status, audited as failed
    const refused = await post('/api/actions/server.drain', { id: 'nope' }, h);
    expect(refused.status).toBe(502);
    expect(await refused.json()).toMatchObject({ error: 'CON_ERR_TIER_REFUSED', tierStatus: 404 });
    // the tier is down: 502, audited
    const down = await post('/api/actions/worker.restart', { id: 'w1', endpoint: deadUrl }, h);
    expect(await err(down)).toEqual([502, 'CON_ERR_TIER_DOWN']);
    const audit = (
      (await (await fetch(`${app.url}/api/state`)).json()) as { audit: { action: string; ok: boolean }[] }
    ).audit;
    expect(audit.slice(-2).map((a) => [a.action, a.ok])).toEqual([
      ['server.drain', false],
      ['worker.restart', false],
    ]);
  });

  it('moves a conference through the scheduler (C8): to a named server, or to the one the scheduler picks', async () => {
    const { cookie, csrf } = await login();
    const h = { cookie, 'x-csrf-token': csrf };
    const lastPost = () => received.filter((r) => r.method === 'POST').at(-1);
    const before = received.length;
    const to = await post('/api/actions/conference.move', { id: 'c1', to: 'srv-b' }, h);
    expect(to.status).toBe(200);
    expect(lastPost()).toEqual({
      method: 'POST',
      url: '/v1/conferences/c1/move',
      auth: 'Bearer sched-token-1',
      body: '{"to":"srv-b"}',
    });
    // the scheduler is read again at once (the injected clock never moves: no poll round is due)
    await vi.waitFor(
      () =>
        expect(
          received
            .slice(before)
            .filter((r) => r.method === 'GET')
            .map((r) => r.url),
        ).toContain('/v1/schedulers'),
      { timeout: 10_000, interval: 20 },
    );
    expect((await post('/api/actions/conference.move', { id: 'c2' }, h)).status).toBe(200);
    expect(lastPost()).toMatchObject({ url: '/v1/conferences/c2/move', body: '{}' });
    const audit = (
      (await (await fetch(`${app.url}/api/state`)).json()) as {
        audit: { action: string; target: string; ok: boolean }[];
      }
    ).audit;
    expect(audit.slice(-2).map((a) => [a.action, a.target, a.ok])).toEqual([
      ['conference.move', 'c1', true],
      ['conference.move', 'c2', true],
    ]);
  });

  it('rate-limits failed logins per address, refusing even the right password until the window passes', async () => {
    expect((await post('/api/login', { password: 'wrong-1' })).status).toBe(401);
    expect((await post('/api/login', { password: 'wrong-2' })).status).toBe(401);
    const limited = await post('/api/login', { password: 'operator-password' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('60');
    expect(
      (await post('/api/login', { password: 'operator-password' }, { origin: 'http://evil.example' })).status,
    ).toBe(403);
    clock.advance(60_000);
    expect((await post('/api/login', { password: 'operator-password' })).status).toBe(200);
    const m = await (await fetch(`${app.url}/metrics`)).text();
    expect(m).toMatch(/console_logins_total\{result="rate-limited"\} 1/);
  });
});
