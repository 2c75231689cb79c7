/**
 * The balancer's HTTP face (fastify): the control API (C4 of CONTRACTS.md, OpenAPI at /documentation/json),
 * allocations, and the proxy under /svc/<service>/<path>. Changes need `Authorization: Bearer <token>`.
 * Errors answer `{ code: BAL_ERR_…, message }`. The proxy (`/svc/…`) is served by routing/proxy-handler.ts
 * on the same HTTP server, ahead of fastify.
 */
import http from 'node:http';
import type { Readable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { BalancerError, STATUS, type BalancerErrorCode } from '../errors.js';
import type { BalancerMetrics } from '../metrics.js';
import type { ContainerTable } from '../queues/container-table.js';
import type { Forwarder } from '../routing/forwarder.js';
import { createProxyHandler, PROXY_PREFIX } from '../routing/proxy-handler.js';
import { tokenMatches } from '../registration/token.js';
import {
  AllocationBody,
  AllocationRequest,
  ErrorBody,
  IdParams,
  PickLogBody,
  PickLogQuery,
  ServicesBody,
} from './schemas.js';

export interface ApiComponents {
  table: ContainerTable;
  forwarder: Forwarder;
  metrics: BalancerMetrics;
  /** Evicts a container: closes its registration (it is dropped as if it had failed). */
  evict(id: string): boolean;
}

export interface ApiInit {
  /** Bearer token for changes; without one, drain/undrain/evict are refused and allocations are open. */
  apiToken: string | undefined;
  retryAfterS: number;
  maxRetryBodyBytes: number;
}

const errorResponses = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 502: ErrorBody, 503: ErrorBody };

export async function buildApi(components: ApiComponents, init: ApiInit): Promise<FastifyInstance> {
  const { table, forwarder, metrics } = components;
  const proxy = createProxyHandler(
    { forwarder, metrics },
    { retryAfterS: init.retryAfterS, maxRetryBodyBytes: init.maxRetryBodyBytes },
  );
  // `/svc/…` is passed through on Node's own objects before fastify routes anything (see proxy-handler.ts)
  const serverFactory = (handler: http.RequestListener) =>
    http.createServer((req, res) =>
      req.url!.startsWith(PROXY_PREFIX) ? proxy(req, res) : handler(req, res),
    );
  const app = Fastify({
    logger: false,
    bodyLimit: 64 * 1024,
    serverFactory,
  }).withTypeProvider<TypeBoxTypeProvider>();
  await app.register(swagger, {
    openapi: {
      info: { title: 'Switchyard container balancer', version: '0.1.0' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });

  const sendError = (reply: FastifyReply, err: BalancerError, service?: string) => {
    if (service) {
      metrics.errors.inc({ service, code: err.code });
      metrics.requests.inc({ service, outcome: 'error' });
    }
    if (err.code === 'BAL_ERR_NO_CONTAINER') reply.header('retry-after', String(init.retryAfterS));
    return reply.code(STATUS[err.code]).send({ code: err.code, message: err.message });
  };
  const fail = (reply: FastifyReply, code: BalancerErrorCode, message: string) =>
    sendError(reply, new BalancerError(code, message));

  app.setErrorHandler((err: unknown, _req, reply) => {
    const e = err as { validation?: unknown; statusCode?: number; message?: string };
    if (e.validation || (e.statusCode && e.statusCode < 500))
      return fail(reply, 'BAL_ERR_BAD_REQUEST', e.message ?? 'bad request');
    if (err instanceof BalancerError) return sendError(reply, err);
    return reply.code(500).send({ code: 'BAL_ERR_INTERNAL', message: 'internal error' });
  });

  const authorized = (req: FastifyRequest, required: boolean): boolean => {
    if (init.apiToken === undefined) return !required;
    const h = req.headers.authorization;
    return tokenMatches(init.apiToken, h?.startsWith('Bearer ') ? h.slice(7) : undefined);
  };

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  app.get('/documentation/json', { schema: { hide: true } }, async () => app.swagger());

  app.get(
    '/v1/services',
    { schema: { summary: 'services and their queues, head first', response: { 200: ServicesBody } } },
    async () => ({ services: table.services() }),
  );

  app.get(
    '/v1/picks',
    {
      schema: {
        summary: 'recorded picks with every candidate score at that moment (--pick-log-size > 0)',
        querystring: PickLogQuery,
        response: { 200: PickLogBody },
      },
    },
    async (req) => ({ picks: table.pickLog(req.query.after).map((p) => ({ ...p, key: p.key ?? null })) }),
  );

  const containerChange = (
    path: string,
    method: 'POST' | 'DELETE',
    summary: string,
    act: (id: string) => boolean,
  ) =>
    app.route({
      method,
      url: path,
      schema: { summary, params: IdParams, security: [{ bearer: [] }], response: errorResponses },
      handler: async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
        if (!authorized(req, true))
          return fail(reply, 'BAL_ERR_UNAUTHORIZED', 'a valid bearer token is required');
        if (!act(req.params.id)) return fail(reply, 'BAL_ERR_NOT_FOUND', `no container ${req.params.id}`);
        return reply.code(200).send(table.get(req.params.id) ?? { id: req.params.id, evicted: true });
      },
    });
  containerChange('/v1/containers/:id/drain', 'POST', 'drain: no new requests, in-flight ones finish', (id) =>
    Boolean(table.setDrain(id, true)),
  );
  containerChange('/v1/containers/:id/undrain', 'POST', 'take new requests again', (id) =>
    Boolean(table.setDrain(id, false)),
  );
  containerChange(
    '/v1/containers/:id',
    'DELETE',
    'evict: drop from the queue and close its connection',
    (id) => components.evict(id),
  );

  app.post(
    '/v1/allocations',
    {
      schema: {
        summary:
          'allocate on the least-loaded container of a service; the same key stays on the same container',
        body: AllocationRequest,
        security: [{ bearer: [] }],
        response: { 200: AllocationBody, ...errorResponses },
      },
    },
    async (req, reply) => {
      const { service, key } = req.body;
      if (!authorized(req, false))
        return fail(reply, 'BAL_ERR_UNAUTHORIZED', 'a valid bearer token is required');
      const prefer = table.stickyFor(service, key);
      try {
        // keyed: the container answers the same allocation for the same key, so a retry is safe
        const r = await forwarder.forward({
          service,
          method: 'POST',
          path: '/v1/allocations',
          headers: ['content-type', 'application/json'],
          body: Buffer.from(JSON.stringify({ key })),
          idempotent: true,
          key,
          ...(prefer ? { prefer } : {}),
        });
        const text = (await readAll(r.response.body, 64 * 1024)).toString('utf8');
        if (r.response.status !== 200)
          throw new BalancerError(
            'BAL_ERR_UPSTREAM',
            `container ${r.container.id} answered ${r.response.status} to the allocation`,
          );
        let allocation: unknown;
        try {
          allocation = JSON.parse(text);
        } catch {
          throw new BalancerError('BAL_ERR_UPSTREAM', `container ${r.container.id} answered no JSON`);
        }
        table.bind(service, key, r.container.id);
        metrics.requests.inc({ service, outcome: 'ok' });
        return { service, key, containerId: r.container.id, allocation };
      } catch (err) {
        if (err instanceof BalancerError) return sendError(reply, err, service);
        throw err;
      }
    },
  );

  return app;
}

/** Reads a stream to its end, refusing more than `max` bytes. */
function readAll(stream: Readable, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        stream.destroy();
        reject(new Error(`body above ${max} bytes`));
        return;
      }
      chunks.push(c);
    });
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}
