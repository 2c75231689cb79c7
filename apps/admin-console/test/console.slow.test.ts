/**
 * The console in Debian's Chromium over the real stack: a real Redis registry, two real scheduler processes,
 * conference servers registered by real agents, a real host dispatcher with its workers. The pop-router and the
 * balancer are CONTRACT FIXTURES (see contract-fixtures.ts) until their branches land.
 *
 * Proves: every view shows live data; login; every action changes the real system (a drained server gets no new
 * conference; a restarted worker has a new pid; a created conference appears placed); a viewer cannot act (UI and
 * API both refuse); a wrong password is refused and rate-limited; a tier that is down shows down. Staleness (a
 * change in the system → visible on the page) is measured and written to reports/console/staleness.json for the
 * benchmark report; it is not asserted.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { freePort, waitFor } from '@switchyard/testing';
import { ConsoleApp, ConsoleSettings } from '../src/index.js';
import { launchChromium } from '../src/testing/chromium.js';
import { balancerFixture, popRouterFixture, type FixtureServer } from './contract-fixtures.js';
import { HOST, startRealStack, type RealStack } from './real-stack.js';

const PASSWORD = 'operator-pass-14';
const root = path.resolve(import.meta.dirname, '../../..');
const SHOTS = process.env['CONSOLE_SCREENSHOTS'];

let stack: RealStack;
let pop: FixtureServer;
let balancer: FixtureServer;
let app: ConsoleApp;
let browser: Browser;
let downBalancer: string;

beforeAll(async () => {
  stack = await startRealStack({ servers: ['srv-a', 'srv-b'], capacity: 100 });
  pop = await popRouterFixture(HOST, {
    self: 'pop-h1',
    token: 'pop-token-14',
    hosts: [
      { id: 'pop-h1', state: 'alive', sessions: 2 },
      { id: 'pop-h2', state: 'suspect', sessions: 0 },
    ],
    sessions: [
      { id: 'conf-x', owner: 'pop-h1', epoch: 3, version: 1 },
      { id: 'conf-y', owner: 'pop-h1', epoch: 4, version: 2 },
    ],
  });
  balancer = await balancerFixture(HOST, {
    token: 'bal-token-14',
    services: {
      mixer: [
        { id: 'mixer-1', capacity: 10, reportedLoad: 2, state: 'serving' },
        { id: 'mixer-2', capacity: 10, reportedLoad: 7, state: 'serving' },
      ],
    },
  });
  // a balancer that is configured but not running: the console must show it down
  downBalancer = `http://${HOST}:${await freePort(HOST)}`;
  app = new ConsoleApp(
    {},
    ConsoleSettings.parse({
      host: HOST,
      port: 0,
      redisUrl: stack.redis.url,
      schedulerUrl: stack.schedulers.map((s) => s.url),
      dispatcherUrl: [stack.dispatcher.url],
      popRouterUrl: [pop.url],
      balancerUrl: [balancer.url, downBalancer],
      schedulerToken: stack.schedulerToken,
      dispatcherToken: stack.dispatcherToken,
      popRouterToken: 'pop-token-14',
      balancerToken: 'bal-token-14',
      password: PASSWORD,
      pollMs: 100,
      pushMs: 50,
      sampleMs: 250,
      loginAttempts: 3,
    }),
  );
  await app.start();
  browser = await launchChromium([HOST]);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await pop?.close();
  await balancer?.close();
  await stack?.stop();
});

async function openPage(ctx: BrowserContext, tab: string): Promise<Page> {
  const page = await ctx.newPage();
  await page.setViewportSize({ width: 1400, height: 800 });
  // generous bounds: CI machines are shared; a bound only decides how long a broken build takes to fail
  page.setDefaultTimeout(90_000);
  await page.goto(`${app.url}/#${tab}`);
  await page.getByTestId('connection').filter({ hasText: 'live' }).waitFor();
  return page;
}

const row = (page: Page, table: string, key: string) =>
  page.locator(`[data-testid="${table}"] [data-key="${key}"]`);

async function shot(page: Page, name: string): Promise<void> {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

async function loginAsOperator(page: Page): Promise<void> {
  await page.locator('[data-testid="login"] input[name="password"]').fill(PASSWORD);
  await page.locator('[data-testid="login"] button[type="submit"]').click();
  await page.getByTestId('role').filter({ hasText: 'operator' }).waitFor();
}

async function confirmAction(page: Page, expectText: RegExp): Promise<void> {
  const dialog = page.getByTestId('confirm');
  await dialog.waitFor();
  expect(await page.getByTestId('confirm-text').textContent()).toMatch(expectText);
  await page.getByTestId('confirm-ok').click();
  // the toast says done or why not (a worker restart waits for its replacement: allow for a slow fork)
  const toast = page.getByTestId('toast');
  await toast.waitFor({ timeout: 60_000 });
  expect(await toast.textContent()).toMatch(/done/);
  await toast.click();
}

describe('admin console in Chromium over the real stack', () => {
  it('shows every view live to a viewer, and a tier that is down as down', async () => {
    const ctx = await browser.newContext();
    try {
      const page = await openPage(ctx, 'topology');
      await page
        .locator('[data-testid="tier-scheduler"] [data-testid="endpoint"][data-up="true"]')
        .nth(1)
        .waitFor();
      await page
        .locator('[data-testid="tier-dispatcher"] [data-testid="endpoint"][data-up="true"]')
        .waitFor();
      await page.locator('[data-testid="tier-registry"] [data-testid="endpoint"][data-up="true"]').waitFor();
      await page.locator('[data-testid="tier-balancer"] [data-testid="endpoint"][data-up="false"]').waitFor();
      expect(await page.locator('[data-testid="tier-balancer"]').textContent()).toContain(downBalancer);
      await shot(page, 'topology');

      await page.click('[data-tab="schedulers"]');
      await row(page, 'schedulers', 'sched-a').waitFor();
      await row(page, 'schedulers', 'sched-b').waitFor();
      // live: the round number a scheduler reports moves while the page stays open
      const round = async () =>
        Number((await row(page, 'schedulers', 'sched-a').locator('td').nth(3).textContent()) ?? NaN);
      const r0 = await waitFor('a round number', async () => {
        const r = await round();
        return Number.isFinite(r) && r;
      });
      await waitFor('the round number to move on the page', async () => (await round()) > r0);
      await shot(page, 'schedulers');

      await page.click('[data-tab="servers"]');
      await row(page, 'servers', 'srv-a').waitFor();
      await row(page, 'servers', 'srv-b').waitFor();
      // a load change published by a real agent reaches the page
      await stack.agents.get('srv-b')!.setLoad(37);
      await row(page, 'servers', 'srv-b').filter({ hasText: '37 / 100' }).waitFor();
      await waitFor(
        'load samples in the plot',
        async () => Number(await page.getByTestId('load-plot').getAttribute('data-points')) >= 3,
      );
      await shot(page, 'servers');

      await page.click('[data-tab="hosts"]');
      await row(page, 'hosts', 'pop-h1').filter({ hasText: 'alive' }).waitFor();
      await row(page, 'hosts', 'pop-h2').filter({ hasText: 'suspect' }).waitFor();
      await row(page, 'sessions', 'conf-y').waitFor();
      await shot(page, 'hosts');

      await page.click('[data-tab="workers"]');
      const pids = (await stack.workers()).filter((w) => w.status === 'ready').map((w) => String(w.pid));
      expect(pids.length).toBeGreaterThanOrEqual(1);
      for (const pid of pids)
        await page.locator('[data-testid="workers"] [data-testid="pid"]', { hasText: pid }).first().waitFor();
      await shot(page, 'workers');

      await page.click('[data-tab="queues"]');
      await row(page, 'containers', 'mixer-1').waitFor();
      await row(page, 'containers', 'mixer-2').filter({ hasText: '7/10' }).waitFor();
      expect(await page.locator('.down-note').textContent()).toContain(downBalancer);
      await shot(page, 'queues');
    } finally {
      await ctx.close();
    }
  }, 300_000);

  it('a viewer cannot act: the buttons are disabled and the API refuses', async () => {
    const ctx = await browser.newContext();
    try {
      const page = await openPage(ctx, 'servers');
      await row(page, 'servers', 'srv-a').waitFor();
      expect(await page.getByTestId('role').textContent()).toBe('viewer');
      const btn = row(page, 'servers', 'srv-a').locator('button[data-action="server.drain"]');
      expect(await btn.isDisabled()).toBe(true);
      const status = await page.evaluate(async () => {
        const r = await fetch('/api/actions/server.drain', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ id: 'srv-a' }),
        });
        return r.status;
      });
      expect(status).toBe(401);
      const servers = (await stack.scheduler('GET', '/v1/servers')).body as { id: string; state: string }[];
      expect(servers.find((s) => s.id === 'srv-a')?.state).toBe('serving');
    } finally {
      await ctx.close();
    }
  }, 300_000);

  it('an operator logs in; drain keeps new conferences off a server; create places a conference', async () => {
    const ctx = await browser.newContext();
    try {
      const page = await openPage(ctx, 'servers');
      await loginAsOperator(page);
      // the session cookie is HttpOnly and SameSite=Strict; the page cannot read it
      const cookie = (await ctx.cookies()).find((c) => c.name === 'sy_console');
      expect(cookie?.httpOnly).toBe(true);
      expect(cookie?.sameSite).toBe('Strict');
      expect(await page.evaluate(() => document.cookie)).not.toContain('sy_console');
      // a mutation without the CSRF token is refused even with the cookie
      const noCsrf = await page.evaluate(
        async () =>
          (
            await fetch('/api/actions/server.drain', {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ id: 'srv-a' }),
            })
          ).status,
      );
      expect(noCsrf).toBe(403);

      await row(page, 'servers', 'srv-a').locator('button[data-action="server.drain"]').click();
      await confirmAction(page, /srv-a\/drain.*no new conference/);
      await row(page, 'servers', 'srv-a')
        .filter({ hasText: 'draining' })
        .waitFor()
        .catch(async (err: Error) => {
          const api = JSON.stringify((await stack.scheduler('GET', '/v1/servers')).body);
          throw new Error(
            `${err.message}; row: ${await row(page, 'servers', 'srv-a').textContent()}; scheduler: ${api}`,
          );
        });
      await waitFor('the schedulers see srv-a draining', async () =>
        ((await stack.scheduler('GET', '/v1/servers')).body as { id: string; state: string }[]).some(
          (s) => s.id === 'srv-a' && s.state === 'draining',
        ),
      );
      // the real schedulers place nothing new on the drained server
      for (let i = 0; i < 6; i++)
        expect(
          (
            await stack.scheduler('POST', '/v1/conferences', {
              id: `after-drain-${i}`,
              expectedParticipants: 2,
            })
          ).status,
        ).toBe(201);
      const placed = await waitFor(
        'six conferences placed',
        async () => {
          const all = await Promise.all(
            Array.from(
              { length: 6 },
              async (_, i) =>
                (await stack.scheduler('GET', `/v1/conferences/after-drain-${i}`)).body as {
                  assignment?: { serverId: string };
                },
            ),
          );
          return all.every((c) => c.assignment) && all;
        },
        { timeoutMs: 30_000 },
      );
      for (const c of placed) expect(c.assignment!.serverId).toBe('srv-b');

      // create a conference through the console: the schedulers place it and the page shows the placement
      await page.click('[data-tab="conferences"]');
      await page.locator('input[name="conference-id"]').fill('conf-console-1');
      await page.locator('input[name="participants"]').fill('3');
      await page.locator('[data-testid="create-conference"] button[type="submit"]').click();
      await confirmAction(page, /POST \/v1\/conferences.*conf-console-1/);
      await row(page, 'conferences', 'conf-console-1')
        .filter({ hasText: 'placed' })
        .filter({ hasText: 'srv-b' })
        .waitFor();
      const created = (await stack.scheduler('GET', '/v1/conferences/conf-console-1')).body as {
        assignment: { serverId: string };
      };
      expect(created.assignment.serverId).toBe('srv-b');
      // move is not in the scheduler's API: the button says so instead of pretending
      const move = row(page, 'conferences', 'conf-console-1').locator(
        'button[data-action="conference.move"]',
      );
      expect(await move.isDisabled()).toBe(true);
      expect(await move.getAttribute('title')).toMatch(/no move request/);
      await shot(page, 'conferences');

      await page.click('[data-tab="servers"]');
      await row(page, 'servers', 'srv-a').locator('button[data-action="server.undrain"]').click();
      await confirmAction(page, /undrain/);
      await row(page, 'servers', 'srv-a').filter({ hasText: 'up' }).waitFor();
      const servers = (await stack.scheduler('GET', '/v1/servers')).body as { id: string; state: string }[];
      expect(servers.find((s) => s.id === 'srv-a')?.state).toBe('serving');
    } finally {
      await ctx.close();
    }
  }, 300_000);

  it('an operator restarts a worker (new pid), drains and removes a container; every action is audited', async () => {
    const ctx = await browser.newContext();
    try {
      const page = await openPage(ctx, 'workers');
      await loginAsOperator(page);
      const before = (await stack.workers()).find((w) => w.id === 'w1')!;
      await page
        .locator(
          `[data-testid="workers"] [data-key="${stack.dispatcher.url} w1"] button[data-action="worker.restart"]`,
        )
        .click();
      await confirmAction(page, /workers\/w1\/restart.*new pid/);
      const fresh = await waitFor(
        'a replacement worker ready',
        async () => {
          const ws = await stack.workers();
          return (
            !ws.some((w) => w.pid === before.pid) && ws.filter((w) => w.status === 'ready').length >= 1 && ws
          );
        },
        { timeoutMs: 60_000 },
      );
      const newPids = fresh.map((w) => String(w.pid));
      for (const pid of newPids)
        await page.locator('[data-testid="workers"] [data-testid="pid"]', { hasText: pid }).first().waitFor();
      await waitFor(
        'the old pid gone from the page',
        async () =>
          (await page.locator('[data-testid="workers"]').textContent())?.includes(String(before.pid)) ===
          false,
      );

      await page.click('[data-tab="queues"]');
      await row(page, 'containers', 'mixer-2').locator('button[data-action="container.drain"]').click();
      await confirmAction(page, /containers\/mixer-2\/drain/);
      await row(page, 'containers', 'mixer-2').filter({ hasText: 'draining' }).waitFor();
      await row(page, 'containers', 'mixer-1').locator('button[data-action="container.remove"]').click();
      await confirmAction(page, /DELETE \/v1\/containers\/mixer-1/);
      await waitFor(
        'mixer-1 gone from the page',
        async () => (await row(page, 'containers', 'mixer-1').count()) === 0,
      );
      expect(balancer.calls).toEqual([
        { method: 'POST', path: '/v1/containers/mixer-2/drain', auth: 'Bearer bal-token-14' },
        { method: 'DELETE', path: '/v1/containers/mixer-1', auth: 'Bearer bal-token-14' },
      ]);

      await page.click('[data-tab="audit"]');
      for (const action of [
        'server.drain',
        'conference.create',
        'server.undrain',
        'worker.restart',
        'container.drain',
        'container.remove',
      ])
        await page
          .locator(`[data-testid="audit"] tr[data-action="${action}"][data-ok="true"]`)
          .first()
          .waitFor();
      await shot(page, 'audit');
    } finally {
      await ctx.close();
    }
  }, 300_000);

  it('staleness: a change in the system is visible on the page (figures go to the benchmark report)', async () => {
    const ctx = await browser.newContext();
    try {
      const page = await openPage(ctx, 'servers');
      await row(page, 'servers', 'srv-a').waitFor();
      const samples: number[] = [];
      for (let i = 1; i <= 20; i++) {
        const load = 40 + i;
        const t0 = Date.now();
        await stack.agents.get('srv-a')!.setLoad(load);
        await row(page, 'servers', 'srv-a')
          .filter({ hasText: `${load} / 100` })
          .waitFor({ timeout: 10_000 });
        samples.push(Date.now() - t0);
      }
      const sorted = [...samples].sort((a, b) => a - b);
      const pct = (p: number) =>
        sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
      const out = path.join(root, 'reports/console/staleness.json');
      fs.mkdirSync(path.dirname(out), { recursive: true });
      fs.writeFileSync(
        out,
        JSON.stringify(
          {
            what: 'agent setLoad → row visible in Chromium',
            samples,
            p50: pct(50),
            p95: pct(95),
            max: sorted.at(-1),
          },
          null,
          2,
        ),
      );
      expect(samples).toHaveLength(20);
    } finally {
      await ctx.close();
    }
  }, 300_000);

  it('a wrong password is refused, then rate-limited (even the right one, until the window passes)', async () => {
    const ctx = await browser.newContext();
    try {
      const page = await openPage(ctx, 'topology');
      const input = page.locator('[data-testid="login"] input[name="password"]');
      const attempt = async (pw: string) => {
        await input.fill(pw);
        const [res] = await Promise.all([
          page.waitForResponse((r) => r.url().endsWith('/api/login')),
          page.locator('[data-testid="login"] button[type="submit"]').click(),
        ]);
        return res.status();
      };
      for (let i = 0; i < 3; i++) {
        expect(await attempt(`wrong-${i}`)).toBe(401);
        await page.getByTestId('login-error').filter({ hasText: 'wrong password' }).waitFor();
      }
      expect(await attempt(PASSWORD)).toBe(429);
      await page.getByTestId('login-error').filter({ hasText: 'too many failed logins' }).waitFor();
      expect(await page.getByTestId('role').textContent()).toBe('viewer');
      const r = await page.evaluate(async (pw) => {
        const res = await fetch('/api/login', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ password: pw }),
        });
        return { status: res.status, retryAfter: res.headers.get('retry-after') };
      }, PASSWORD);
      expect(r.status).toBe(429);
      expect(Number(r.retryAfter)).toBeGreaterThan(0);
    } finally {
      await ctx.close();
    }
  }, 300_000);
});
