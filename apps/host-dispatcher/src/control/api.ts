/**
 * The control API (fastify, its own port). Mutations need `Authorization: Bearer <token>`. Reads that name sessions
 * (Call-IDs, conferences) need the token or the read token: `GET /conferences/:id` is refused without one, and
 * `GET /workers` then lists the workers without their sessions. `/healthz` and `/metrics` name none and are open.
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

/** A worker as shown to a caller without a read token: counts only, no Call-ID or conference. */
function withoutSessions(w: WorkerView): WorkerView {
  if (!w.state) return w;
  return { ...w, state: { ...w.state, conferences: [], callIds: [] } };
}

export function buildControlApi(
  target: ControlTarget,
  init: {
    /** Mutations and reads. Empty: mutations refused. */
    token: string;
    /** Reads that name sessions only. Empty: only `token` opens them. */
    readToken?: string;
  },
): FastifyInstance {
  const app = Fastify({ logger: false });
  const bearer = (req: FastifyRequest, token: string | undefined): boolean => {
    if (!token) return false;
    const got = Buffer.from(String(req.headers.authorization ?? ''));
    const want = Buffer.from(`Bearer ${token}`);
    return got.length === want.length && timingSafeEqual(got, want);
  };
  const authorized = (req: FastifyRequest): boolean => bearer(req, init.token);
  const mayRead = (req: FastifyRequest): boolean => authorized(req) || bearer(req, init.readToken);
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
  app.get('/workers', async (req) => {
    const workers = await target.listWorkers();
    return { workers: mayRead(req) ? workers : workers.map(withoutSessions) };
  });
  app.get<{ Params: { id: string } }>('/conferences/:id', async (req, reply) => {
    if (!mayRead(req))
      return reply.code(401).send({
        error: 'unauthorized',
        message: 'Authorization: Bearer <control token or read token> required',
      });
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
