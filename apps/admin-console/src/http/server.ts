/**
 * The console's HTTP face (fastify): the built page, its API and event stream, login, operator actions, /healthz
 * and /metrics. Viewers need no login; every mutation needs an operator session cookie, its CSRF token in
 * `x-csrf-token`, and (when the browser sends one) an Origin equal to the console's own.
 */
import fs from 'node:fs';
import path from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import fastifyStatic from '@fastify/static';
import type { Clock, Logger } from '@switchyard/core';
import { SwitchyardError } from '@switchyard/core';
import { ACTIONS } from '../shared/actions.js';
import type { Role, SessionInfo, SessionPage, Snapshot } from '../shared/model.js';
import { ConsoleError, STATUS, type ConsoleErrorCode } from '../errors.js';
import type { ConsoleMetrics } from '../metrics.js';
import { verifyPassword, type PasswordHash } from '../auth/password.js';
import type { LoginLimiter } from '../auth/login-limiter.js';
import { COOKIE, readCookie, sessionCookie, SessionStore, type OperatorSession } from '../auth/sessions.js';
import type { ActionForwarder } from '../actions/forwarder.js';
import type { EventHub } from './event-hub.js';

export interface ServerComponents {
  clock: Clock;
  logger: Logger;
  metrics: ConsoleMetrics;
  hub: EventHub;
  sessions: SessionStore;
  limiter: LoginLimiter;
  forwarder: ActionForwarder;
  snapshot: () => Snapshot;
  /** One window of the owned sessions (the event stream carries only their count and version). */
  sessionPage: (owner: string | null, offset: number, limit: number) => SessionPage;
  /** The operator password's hash; undefined = nobody can log in. */
  password: PasswordHash | undefined;
  health: () => { ok: boolean; tiers: { tier: string; url: string; up: boolean }[] };
}

export interface ServerInit {
  webRoot: string;
  sessionTtlMs: number;
}

/** Rows one `GET /api/sessions` answers at most (a table shows a few dozen). */
export const SESSION_PAGE_MAX = 1000;

export async function buildServer(c: ServerComponents, init: ServerInit): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 16 * 1024, trustProxy: false });

  app.setErrorHandler((err: unknown, req, reply) => {
    if (err instanceof ConsoleError) return sendError(reply, err.code, err.message, err.details);
    const e = err as { statusCode?: number; message?: string };
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500)
      return sendError(reply, 'CON_ERR_BAD_REQUEST', e.message ?? 'bad request');
    c.logger.error({ err, url: req.url }, 'internal error');
    return reply.code(500).send({ error: 'CON_ERR_INTERNAL', message: 'internal error' });
  });

  function sendError(
    reply: FastifyReply,
    code: ConsoleErrorCode,
    message: string,
    details?: Readonly<Record<string, unknown>>,
  ) {
    if (code !== 'CON_ERR_TIER_DOWN' && code !== 'CON_ERR_TIER_REFUSED') c.metrics.badRequests.inc({ code });
    const body: Record<string, unknown> = { error: code, message };
    if (details?.['status'] !== undefined) body['tierStatus'] = details['status'];
    if (details?.['audit'] !== undefined) body['audit'] = details['audit'];
    return reply.code(STATUS[code]).send(body);
  }

  const sessionOf = (req: FastifyRequest): OperatorSession | undefined =>
    c.sessions.get(readCookie(req.headers.cookie, COOKIE), c.clock.now());

  /** The Origin of a mutation, when the browser sends one, must be this console's own. */
  const sameOrigin = (req: FastifyRequest): boolean => {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    const host = req.headers.host;
    return origin === `http://${host}` || origin === `https://${host}`;
  };

  const operator = async (req: FastifyRequest): Promise<OperatorSession> => {
    const s = sessionOf(req);
    if (!s || s.role !== 'operator')
      throw new ConsoleError('CON_ERR_UNAUTHORIZED', 'operator login required');
    if (!sameOrigin(req)) throw new ConsoleError('CON_ERR_FORBIDDEN', 'cross-origin request refused');
    const given = req.headers['x-csrf-token'];
    if (!SessionStore.csrfMatches(s, typeof given === 'string' ? given : undefined))
      throw new ConsoleError('CON_ERR_FORBIDDEN', 'missing or wrong x-csrf-token');
    return s;
  };

  app.get('/healthz', async (_req, reply) => {
    const h = c.health();
    return reply.code(h.ok ? 200 : 503).send(h);
  });
  app.get('/metrics', async (_req, reply) =>
    reply.type(c.metrics.registry.contentType).send(await c.metrics.registry.metrics()),
  );

  app.get('/api/state', async (_req, reply) => reply.header('cache-control', 'no-store').send(c.snapshot()));
  app.get<{ Querystring: Record<string, string | undefined> }>('/api/sessions', async (req, reply) => {
    const q = req.query;
    const int = (name: string, dflt: number, max: number): number => {
      const raw = q[name];
      if (raw === undefined || raw === '') return dflt;
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0 || n > max)
        throw new ConsoleError('CON_ERR_BAD_REQUEST', `${name}: expected an integer 0-${max}`);
      return n;
    };
    const offset = int('offset', 0, 10_000_000);
    const limit = int('limit', 100, SESSION_PAGE_MAX);
    const owner = q['owner'] ? q['owner'] : null;
    return reply.header('cache-control', 'no-store').send(c.sessionPage(owner, offset, limit));
  });
  app.get('/api/events', (req, reply) => {
    reply.hijack();
    c.hub.attach(reply.raw, c.snapshot());
    req.raw.socket.setNoDelay(true);
  });
  app.get('/api/actions', async () =>
    Object.entries(ACTIONS).map(([name, spec]) => ({
      name,
      tier: spec.tier,
      label: spec.label,
      needsEndpoint: spec.needsEndpoint,
      ...(spec.unsupported ? { unsupported: spec.unsupported } : {}),
    })),
  );

  app.get('/api/session', async (req): Promise<SessionInfo> => {
    const s = sessionOf(req);
    return s ? { role: s.role, csrf: s.csrf } : { role: 'viewer' satisfies Role, csrf: null };
  });

  app.post('/api/login', async (req, reply) => {
    const addr = req.socket.remoteAddress ?? 'unknown';
    const now = c.clock.now();
    if (!sameOrigin(req)) throw new ConsoleError('CON_ERR_FORBIDDEN', 'cross-origin login refused');
    const wait = c.limiter.retryAfterMs(addr, now);
    if (wait > 0) {
      c.metrics.logins.inc({ result: 'rate-limited' });
      reply.header('retry-after', String(Math.ceil(wait / 1000)));
      throw new ConsoleError(
        'CON_ERR_RATE_LIMITED',
        `too many failed logins; retry in ${Math.ceil(wait / 1000)} s`,
      );
    }
    if (!c.password) throw new ConsoleError('CON_ERR_NO_PASSWORD', 'no operator password is configured');
    const body = req.body as { password?: unknown } | undefined;
    const given = typeof body?.password === 'string' ? body.password : '';
    if (!(await verifyPassword(given, c.password))) {
      c.limiter.fail(addr, c.clock.now());
      c.metrics.logins.inc({ result: 'bad-password' });
      c.logger.warn({ addr }, 'failed operator login');
      throw new ConsoleError('CON_ERR_BAD_PASSWORD', 'wrong password');
    }
    c.limiter.succeed(addr);
    c.sessions.destroy(readCookie(req.headers.cookie, COOKIE));
    const s = c.sessions.create('operator', c.clock.now());
    c.metrics.logins.inc({ result: 'ok' });
    c.logger.info({ addr }, 'operator logged in');
    reply.header(
      'set-cookie',
      sessionCookie(s.id, Math.floor(init.sessionTtlMs / 1000), req.protocol === 'https'),
    );
    return { role: s.role, csrf: s.csrf } satisfies SessionInfo;
  });

  app.post('/api/logout', async (req, reply) => {
    const s = await operator(req);
    c.sessions.destroy(s.id);
    reply.header('set-cookie', sessionCookie('', 0, req.protocol === 'https'));
    return { role: 'viewer', csrf: null } satisfies SessionInfo;
  });

  app.post<{ Params: { name: string } }>('/api/actions/:name', async (req) => {
    const s = await operator(req);
    try {
      const r = await c.forwarder.run(req.params.name, req.body, s.role);
      return { ok: true, status: r.status, body: r.body, audit: r.audit };
    } catch (err) {
      if (err instanceof SwitchyardError)
        c.logger.warn({ code: err.code, action: req.params.name }, 'action failed');
      throw err;
    }
  });

  const root = path.resolve(init.webRoot);
  if (fs.existsSync(path.join(root, 'index.html'))) {
    await app.register(fastifyStatic, { root, index: 'index.html', cacheControl: false });
  } else {
    c.logger.warn({ root }, 'no built page found; serving the API only (run the build)');
    app.get('/', async (_req, reply) =>
      reply
        .code(503)
        .type('text/plain')
        .send('admin-console: the page is not built (nx build admin-console)'),
    );
  }
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'same-origin');
    reply.header(
      'content-security-policy',
      "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
    );
    return payload;
  });
  return app;
}
