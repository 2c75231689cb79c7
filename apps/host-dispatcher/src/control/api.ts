/**
 * The control API (fastify, its own port): reads are open, mutations need `Authorization: Bearer <token>`.
 *
 * GET /healthz · GET /workers · GET /conferences/:id · POST /workers/:id/drain · POST /workers/:id/restart ·
 * GET /metrics (Prometheus text)
 */
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import { hasCode } from '@switchyard/core';
import type { WorkerView } from '../primary/dispatcher.js';

/** What the API needs from the dispatcher (so it can be tested with `inject()` against a real one or a fake). */
export interface ControlTarget {
  listWorkers(): Promise<WorkerView[]>;
  drainWorker(id: string): WorkerView;
  restartWorker(id: string): Promise<{ stopped: string; started: string }>;
  health(): { ok: boolean; state: string; ready: number };
  conferenceHost(conf: string): string | undefined;
  refreshGauges(): void;
  readonly metrics: { readonly registry: Registry };
}

export function buildControlApi(target: ControlTarget, init: { token: string }): FastifyInstance {
  const app = Fastify({ logger: false });
  const authorized = (req: FastifyRequest): boolean => {
    if (!init.token) return false;
    const got = Buffer.from(String(req.headers.authorization ?? ''));
    const want = Buffer.from(`Bearer ${init.token}`);
    return got.length === want.length && timingSafeEqual(got, want);
  };
  const mutation = {
    onRequest: async (req: FastifyRequest, reply: import('fastify').FastifyReply) => {
      if (!authorized(req))
        return reply
          .code(401)
          .send({ error: 'unauthorized', message: 'Authorization: Bearer <control token> required' });
      return undefined;
    },
  };

  app.get('/healthz', async (_req, reply) => {
    const h = target.health();
    return reply.code(h.ok ? 200 : 503).send(h);
  });
  app.get('/workers', async () => ({ workers: await target.listWorkers() }));
  app.get<{ Params: { id: string } }>('/conferences/:id', async (req, reply) => {
    const host = target.conferenceHost(req.params.id);
    const workers = await target.listWorkers();
    const holders = workers
      .filter((w) => w.state?.conferences.some((c) => c.id === req.params.id))
      .map((w) => ({
        worker: w.id,
        participants: w.state!.conferences.find((c) => c.id === req.params.id)!.participants,
      }));
    if (!host && holders.length === 0) return reply.code(404).send({ error: 'not-found' });
    return { id: req.params.id, boundTo: host ?? null, holders };
  });
  app.post<{ Params: { id: string } }>('/workers/:id/drain', mutation, async (req, reply) => {
    try {
      return target.drainWorker(req.params.id);
    } catch (err) {
      if (hasCode(err, 'DSP_ERR_NO_WORKER')) return reply.code(404).send({ error: 'not-found' });
      throw err;
    }
  });
  app.post<{ Params: { id: string } }>('/workers/:id/restart', mutation, async (req, reply) => {
    try {
      return await target.restartWorker(req.params.id);
    } catch (err) {
      if (hasCode(err, 'DSP_ERR_NO_WORKER')) return reply.code(404).send({ error: 'not-found' });
      throw err;
    }
  });
  app.get('/metrics', async (_req, reply) => {
    target.refreshGauges();
    return reply.type(target.metrics.registry.contentType).send(await target.metrics.registry.metrics());
  });
  return app;
}
