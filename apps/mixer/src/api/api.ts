/**
 * The mixer's HTTP API (fastify; HTTP/1.1 when listening in direct mode, HTTP/2 served over the dialed connection
 * in reverse mode). `POST /v1/allocations {key}` → `{conference, rtp:{address,port}}` (the same key, the same
 * answer); `DELETE /v1/allocations/:key`; `GET /v1/stats` (JSON counters); `/metrics`; `/healthz`.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { MixerError, type MixerErrorCode } from '../errors.js';
import type { MixerMetrics } from '../metrics.js';
import type { RelayServer } from '../relay/relay-server.js';

const STATUS: Record<MixerErrorCode, number> = {
  MIX_ERR_BAD_REQUEST: 400,
  MIX_ERR_FULL: 503,
  MIX_ERR_NOT_FOUND: 404,
  MIX_ERR_BIND: 503,
};

export async function buildMixerApi(
  components: { relay: RelayServer; metrics: MixerMetrics; id: string },
  init: { http2: boolean },
): Promise<FastifyInstance> {
  const { relay, metrics } = components;
  const base = (init.http2 ? Fastify({ http2: true }) : Fastify()) as unknown as FastifyInstance;
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  app.setErrorHandler((err: unknown, _req, reply) => {
    if (err instanceof MixerError)
      return reply.code(STATUS[err.code]).send({ code: err.code, message: err.message });
    const e = err as { validation?: unknown; message?: string };
    if (e.validation)
      return reply.code(400).send({ code: 'MIX_ERR_BAD_REQUEST', message: e.message ?? 'bad request' });
    return reply.code(500).send({ code: 'MIX_ERR_INTERNAL', message: 'internal error' });
  });
  app.get('/healthz', async () => ({ status: 'ok', id: components.id }));
  app.get('/metrics', async (_req, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  app.get('/v1/stats', async () => ({ id: components.id, ...relay.stats() }));
  app.post(
    '/v1/allocations',
    { schema: { body: Type.Object({ key: Type.String({ minLength: 1, maxLength: 256 }) }) } },
    async (req) => {
      try {
        const a = await relay.allocate(req.body.key);
        metrics.allocations.inc({ result: a.created ? 'created' : 'existing' });
        return { conference: a.conference, rtp: a.rtp };
      } catch (err) {
        metrics.allocations.inc({ result: 'refused' });
        throw err;
      }
    },
  );
  app.delete(
    '/v1/allocations/:key',
    { schema: { params: Type.Object({ key: Type.String({ minLength: 1, maxLength: 256 }) }) } },
    async (req, reply) => {
      if (!(await relay.release(req.params.key)))
        throw new MixerError('MIX_ERR_NOT_FOUND', `no conference ${req.params.key}`);
      return reply.code(204).send();
    },
  );
  return app;
}
