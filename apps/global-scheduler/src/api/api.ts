/**
 * The scheduler's REST API (fastify, TypeBox schemas through the type provider, OpenAPI at /openapi.json).
 * Mutations need `Authorization: Bearer <token>`. Errors answer `{ error: SCH_ERR_…, message, field? }`.
 */
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Clock } from '@switchyard/core';
import { asSchedulerError, SchedulerError, SchedulerErrorTable, type SchedulerErrorCode } from '../errors.js';
import type { Scheduler } from '../scheduler.js';
import type { RegistryStore, ServiceRecord } from '@switchyard/registry';
import { probeTargetOf } from '../keepalive/probe.js';
import type { ScheduleStore } from '../store/schedule-store.js';
import { clientErrorHandler, FASTIFY_CODES, parseJsonBody } from './boundary.js';
import {
  Conference,
  ConferencePage,
  ConferenceParams,
  CreateConference,
  ErrorBody,
  ID_MAX_LENGTH,
  ListQuery,
  MoveConference,
  SchedulerInfo,
  Server,
  ServerParams,
  UnplaceableList,
} from './schemas.js';

export interface ApiComponents {
  scheduler: Scheduler;
  store: ScheduleStore;
  registry: RegistryStore;
  clock: Clock;
}

export interface ApiInit {
  /** Bearer token for mutations. Required. */
  token: string;
  /** Seconds a client should wait before retrying when Redis is unreachable. */
  retryAfterS?: number;
  /** Default region of conferences created without one. */
  region?: string;
  logger?: boolean;
}

const errorResponses = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody };

export async function buildApi(components: ApiComponents, init: ApiInit): Promise<FastifyInstance> {
  if (!init.token) throw new SchedulerError('SCH_ERR_BAD_REQUEST', 'api: a bearer token is required');
  const { scheduler, store, registry, clock } = components;
  const retryAfter = String(init.retryAfterS ?? 1);
  const token = Buffer.from(init.token);
  const app = Fastify({
    logger: init.logger ?? false,
    // no type coercion anywhere: "5" is not a count, 5 is not an id (query strings are matched as text)
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
    // one id limit for every route: the router refuses longer path parameters with 414, in our error format
    routerOptions: { maxParamLength: ID_MAX_LENGTH },
    clientErrorHandler,
    frameworkErrors: (err, _req, reply) => {
      const code = FASTIFY_CODES[(err as { code?: string }).code ?? ''] ?? 'SCH_ERR_BAD_REQUEST';
      void sendError(reply, code, err.message);
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.removeContentTypeParser(['application/json']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  await app.register(swagger, {
    openapi: {
      info: { title: 'Switchyard global scheduler', version: '0.1.0' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });

  app.setNotFoundHandler((req, reply) =>
    sendError(reply, 'SCH_ERR_NOT_FOUND', `no route ${req.method} ${req.url.slice(0, 200)}`),
  );

  app.setErrorHandler((err: unknown, req, reply) => {
    const e = err as { validation?: unknown[]; validationContext?: string; code?: string; message?: string };
    if (e.validation) {
      const first = e.validation[0] as {
        instancePath?: string;
        params?: { missingProperty?: string; additionalProperty?: string };
      };
      const path = [e.validationContext, ...(first.instancePath ?? '').split('/').filter(Boolean)];
      if (first.params?.missingProperty) path.push(first.params.missingProperty);
      if (first.params?.additionalProperty) path.push(first.params.additionalProperty);
      const field = path.filter(Boolean).join('.');
      return sendError(reply, 'SCH_ERR_BAD_REQUEST', `${field}: ${e.message}`, field);
    }
    // fastify's own errors (body too large, bad media type …) by their code; everything else by ours
    const fst = e.code ? FASTIFY_CODES[e.code] : undefined;
    if (fst) return sendError(reply, fst, e.message ?? fst);
    const se = asSchedulerError(err);
    if (se.code === 'SCH_ERR_INTERNAL') req.log.error({ err }, 'internal error');
    const field = se.details?.['field'];
    return sendError(reply, se.code, se.message, typeof field === 'string' ? field : undefined);
  });

  function sendError(reply: FastifyReply, code: SchedulerErrorCode, message: string, field?: string) {
    if (code === 'SCH_ERR_STORE_UNAVAILABLE') reply.header('retry-after', retryAfter);
    return reply
      .code(SchedulerErrorTable[code].status)
      .send(field ? { error: code, message, field } : { error: code, message });
  }

  const auth = async (req: FastifyRequest) => {
    const h = req.headers.authorization ?? '';
    const given = Buffer.from(h.startsWith('Bearer ') ? h.slice(7) : '');
    if (given.length !== token.length || !timingSafeEqual(given, token))
      throw new SchedulerError('SCH_ERR_UNAUTHORIZED', 'a bearer token is required for this request');
  };
  const security = [{ bearer: [] }];

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.post(
    '/v1/conferences',
    {
      onRequest: auth,
      schema: { body: CreateConference, security, response: { 201: Conference, ...errorResponses } },
    },
    async (req, reply) => {
      const now = clock.now();
      const b = req.body;
      const { maxStartAheadMs, maxStartBehindMs } = scheduler.settings;
      if (
        b.startAt !== undefined &&
        (b.startAt < now - maxStartBehindMs || b.startAt > now + maxStartAheadMs)
      )
        throw new SchedulerError(
          'SCH_ERR_BAD_REQUEST',
          `body.startAt: must lie between ${now - maxStartBehindMs} and ${now + maxStartAheadMs} (now ${now})`,
          { details: { field: 'body.startAt' } },
        );
      const rec = await store.create({
        id: b.id,
        region: b.region ?? init.region ?? 'default',
        expectedParticipants: b.expectedParticipants,
        startAt: b.startAt ?? now,
        durationS: b.durationS ?? scheduler.settings.defaultDurationS,
        createdAt: now,
      });
      return reply.code(201).send(rec);
    },
  );

  app.get(
    '/v1/conferences/:id',
    { schema: { params: ConferenceParams, response: { 200: Conference, ...errorResponses } } },
    async (req) => {
      const c = await store.get(req.params.id);
      if (!c) throw new SchedulerError('SCH_ERR_NOT_FOUND', `no conference ${req.params.id}`);
      return c;
    },
  );

  app.get(
    '/v1/conferences',
    { schema: { querystring: ListQuery, response: { 200: ConferencePage, ...errorResponses } } },
    async (req) =>
      store.list(req.query.cursor, req.query.limit === undefined ? 100 : Number(req.query.limit)),
  );

  app.get(
    '/v1/unplaceable',
    { schema: { querystring: ListQuery, response: { 200: UnplaceableList, ...errorResponses } } },
    async (req) => {
      const limit = req.query.limit === undefined ? 100 : Number(req.query.limit);
      const [counts, items] = await Promise.all([store.unplaceableByReason(), store.listUnplaceable(limit)]);
      return { counts, items };
    },
  );

  app.post(
    '/v1/conferences/:id/move',
    {
      onRequest: auth,
      // no body at all means `{}`: move to the best other server
      preValidation: async (req) => {
        if (req.body === undefined || req.body === null) req.body = {};
      },
      schema: {
        params: ConferenceParams,
        body: MoveConference,
        security,
        response: { 200: Conference, ...errorResponses },
      },
    },
    async (req) => scheduler.moveConference(req.params.id, req.body.to),
  );

  app.delete(
    '/v1/conferences/:id',
    {
      onRequest: auth,
      schema: { params: ConferenceParams, security, response: { 204: Type.Null(), ...errorResponses } },
    },
    async (req, reply) => {
      if (!(await scheduler.endConference(req.params.id)))
        throw new SchedulerError('SCH_ERR_NOT_FOUND', `no conference ${req.params.id}`);
      return reply.code(204).send(null);
    },
  );

  async function serverList() {
    const [records, reservations, down] = await Promise.all([
      registry.list(scheduler.settings.serverService),
      store.reservations(),
      store.downServers(),
    ]);
    const res = new Map(reservations.map((r) => [r.serverId, r]));
    const downSet = new Set(down);
    const byId = new Map<string, { record: ServiceRecord; live: boolean }>();
    for (const r of records) byId.set(r.id, { record: r, live: true });
    // a server whose record lapsed stays listed, down, while it holds conferences, is marked down, or for a grace
    const now = clock.now();
    const recent = (id: string) => now - scheduler.servers.lastSeen(id) < scheduler.settings.downGraceMs;
    for (const id of [...res.keys(), ...down, ...scheduler.servers.known()]) {
      const last = scheduler.servers.lastKnown(id);
      if (byId.has(id) || !last) continue;
      if ((res.get(id)?.conferences ?? 0) > 0 || downSet.has(id) || recent(id))
        byId.set(id, { record: last, live: false });
    }
    return [...byId.values()]
      .map(({ record: r, live }) => {
        const down = !live || downSet.has(r.id) || r.state === 'down';
        return {
          id: r.id,
          address: r.address,
          region: r.region,
          state: down ? 'down' : r.state,
          // a dead server's last report is not its load now
          load: down ? 0 : r.load,
          capacity: r.capacity,
          reserved: res.get(r.id)?.reserved ?? 0,
          conferences: res.get(r.id)?.conferences ?? 0,
          markedDown: downSet.has(r.id),
          live,
          down,
          lastSeenAt: live && !downSet.has(r.id) ? now : scheduler.servers.lastSeen(r.id),
          probe: probeTargetOf(r).kind,
        };
      })
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  app.get('/v1/servers', { schema: { response: { 200: Type.Array(Server), ...errorResponses } } }, async () =>
    serverList(),
  );

  for (const [path, state] of [
    ['drain', 'draining'],
    ['undrain', 'serving'],
  ] as const) {
    app.post(
      `/v1/servers/:id/${path}`,
      {
        onRequest: auth,
        schema: { params: ServerParams, security, response: { 200: Server, ...errorResponses } },
      },
      async (req) => {
        const id = req.params.id;
        const rec = await registry.get(scheduler.settings.serverService, id);
        if (!rec) throw new SchedulerError('SCH_ERR_NOT_FOUND', `no live server ${id}`);
        await registry.update(scheduler.settings.serverService, id, { state });
        const s = (await serverList()).find((x) => x.id === id);
        if (!s) throw new SchedulerError('SCH_ERR_NOT_FOUND', `no live server ${id}`);
        return s;
      },
    );
  }

  app.get(
    '/v1/schedulers',
    { schema: { response: { 200: Type.Array(SchedulerInfo), ...errorResponses } } },
    async () => {
      const live = await registry.list(scheduler.settings.schedulerService);
      const shares = await store.shares(live.map((r) => r.id));
      const byId = new Map(shares.map((s) => [s.schedulerId, s]));
      return live
        .map((r) => {
          const s = byId.get(r.id);
          const lastShare = s && {
            round: s.round,
            total: s.total,
            n: s.n,
            share: s.share,
            claimed: s.claimed,
            placed: s.placed,
            unplaceable: s.unplaceable,
            at: s.at,
          };
          return lastShare
            ? { id: r.id, address: r.address, region: r.region, lastShare }
            : { id: r.id, address: r.address, region: r.region };
        })
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    },
  );

  app.get('/healthz', { schema: { hide: true } }, async (_req, reply) => {
    const body = {
      ok: scheduler.storeUp,
      id: scheduler.id,
      store: scheduler.storeUp ? 'up' : 'unreachable',
      error: scheduler.lastStoreError,
    };
    if (!scheduler.storeUp) reply.header('retry-after', retryAfter).code(503);
    return body;
  });

  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    reply.header('content-type', scheduler.metrics.registry.contentType);
    return scheduler.metrics.registry.metrics();
  });

  return app;
}
