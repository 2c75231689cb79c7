/**
 * The scheduler's REST API (fastify, TypeBox schemas through the type provider, OpenAPI at /openapi.json).
 * Mutations need `Authorization: Bearer <token>`. Errors answer `{ error: SCH_ERR_…, message, field? }`.
 */
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { SwitchyardError, type Clock } from '@switchyard/core';
import { SchedulerError, type SchedulerErrorCode } from '../errors.js';
import { isUnavailable, type Scheduler } from '../scheduler.js';
import type { RegistryStore, ServiceRecord } from '@switchyard/registry';
import type { ScheduleStore } from '../store/schedule-store.js';
import {
  Conference,
  ConferencePage,
  CreateConference,
  ErrorBody,
  IdParams,
  ListQuery,
  SchedulerInfo,
  Server,
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

const STATUS: Record<SchedulerErrorCode, number> = {
  SCH_ERR_BAD_REQUEST: 400,
  SCH_ERR_UNAUTHORIZED: 401,
  SCH_ERR_NOT_FOUND: 404,
  SCH_ERR_DUPLICATE: 409,
  SCH_ERR_STORE_UNAVAILABLE: 503,
  SCH_ERR_INTERNAL: 500,
};

const errorResponses = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody };

export async function buildApi(components: ApiComponents, init: ApiInit): Promise<FastifyInstance> {
  if (!init.token) throw new SchedulerError('SCH_ERR_BAD_REQUEST', 'api: a bearer token is required');
  const { scheduler, store, registry, clock } = components;
  const retryAfter = String(init.retryAfterS ?? 1);
  const token = Buffer.from(init.token);
  const app = Fastify({
    logger: init.logger ?? false,
    ajv: { customOptions: { removeAdditional: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  await app.register(swagger, {
    openapi: {
      info: { title: 'Switchyard global scheduler', version: '0.1.0' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });

  app.setErrorHandler((err: unknown, _req, reply) => {
    const e = err as {
      validation?: unknown[];
      validationContext?: string;
      statusCode?: number;
      message?: string;
    };
    if (e.validation) {
      const first = e.validation[0] as {
        instancePath?: string;
        params?: { missingProperty?: string; additionalProperty?: string };
      };
      const path = [e.validationContext, ...(first.instancePath ?? '').split('/').filter(Boolean)];
      if (first.params?.missingProperty) path.push(first.params.missingProperty);
      if (first.params?.additionalProperty) path.push(first.params.additionalProperty);
      const field = path.filter(Boolean).join('.');
      return reply.code(400).send({ error: 'SCH_ERR_BAD_REQUEST', message: `${field}: ${e.message}`, field });
    }
    if (err instanceof SchedulerError) return sendError(reply, err.code, err.message);
    if (isUnavailable(err))
      return sendError(reply, 'SCH_ERR_STORE_UNAVAILABLE', `store unavailable: ${e.message}`);
    if (err instanceof SwitchyardError && err.code === 'REG_ERR_NOT_FOUND')
      return sendError(reply, 'SCH_ERR_NOT_FOUND', err.message);
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500)
      return reply
        .code(e.statusCode)
        .send({ error: 'SCH_ERR_BAD_REQUEST', message: e.message ?? 'bad request' });
    reply.log.error({ err }, 'internal error');
    return sendError(reply, 'SCH_ERR_INTERNAL', e.message ?? 'internal error');
  });

  function sendError(reply: FastifyReply, code: SchedulerErrorCode, message: string, field?: string) {
    if (code === 'SCH_ERR_STORE_UNAVAILABLE') reply.header('retry-after', retryAfter);
    return reply.code(STATUS[code]).send(field ? { error: code, message, field } : { error: code, message });
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
    { schema: { params: IdParams, response: { 200: Conference, ...errorResponses } } },
    async (req) => {
      const c = await store.get(req.params.id);
      if (!c) throw new SchedulerError('SCH_ERR_NOT_FOUND', `no conference ${req.params.id}`);
      return c;
    },
  );

  app.get(
    '/v1/conferences',
    { schema: { querystring: ListQuery, response: { 200: ConferencePage, ...errorResponses } } },
    async (req) => store.list(req.query.cursor, req.query.limit ?? 100),
  );

  app.delete(
    '/v1/conferences/:id',
    {
      onRequest: auth,
      schema: { params: IdParams, security, response: { 204: Type.Null(), ...errorResponses } },
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
    for (const id of [...res.keys(), ...down]) {
      const last = scheduler.servers.lastKnown(id);
      if (!byId.has(id) && last) byId.set(id, { record: last, live: false });
    }
    return [...byId.values()]
      .map(({ record: r, live }) => ({
        id: r.id,
        address: r.address,
        region: r.region,
        state: r.state,
        load: r.load,
        capacity: r.capacity,
        reserved: res.get(r.id)?.reserved ?? 0,
        conferences: res.get(r.id)?.conferences ?? 0,
        markedDown: downSet.has(r.id),
        live,
      }))
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
        schema: { params: IdParams, security, response: { 200: Server, ...errorResponses } },
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
