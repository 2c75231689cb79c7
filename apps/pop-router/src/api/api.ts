/**
 * The pop-router's control API (contract C3): fastify with TypeBox schemas, OpenAPI at `/documentation/json`.
 * Mutations need `Authorization: Bearer <token>`. Errors answer `{ error: POP_ERR_…, message }`.
 */
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { PopHost, PopSession } from '@switchyard/tier-api';
import { PopRouterError, type PopRouterErrorCode } from '../errors.js';

export interface HostView {
  id: string;
  address: string;
  tunnel: string;
  state: 'alive' | 'suspect' | 'dead' | 'left';
  incarnation: number;
  draining: boolean;
  sessions: number;
}

export interface SessionView {
  id: string;
  owner: string;
  epoch: number;
  version: number;
}

/** What the API drives (the {@link PopRouter}). */
export interface PopControl {
  readonly id: string;
  hosts(): HostView[];
  sessions(owner?: string): SessionView[];
  session(id: string): SessionView | undefined;
  /** Throws `POP_ERR_STALE_CLAIM`. */
  claim(id: string, epoch: number): SessionView;
  /** Throws `POP_ERR_NOT_OWNER` / `POP_ERR_NOT_FOUND`. */
  release(id: string): void;
  setDraining(draining: boolean): void;
  health(): { ok: boolean; id: string; members: number; dispatcher: boolean; draining: boolean };
  metricsText(): Promise<{ contentType: string; body: string }>;
}

const STATUS: Partial<Record<PopRouterErrorCode, number>> = {
  POP_ERR_BAD_REQUEST: 400,
  POP_ERR_UNAUTHORIZED: 401,
  POP_ERR_NOT_FOUND: 404,
  POP_ERR_NOT_OWNER: 409,
  POP_ERR_STALE_CLAIM: 409,
};

const ErrorBody = Type.Object({ error: Type.String(), message: Type.String() });
// the answers are defined once in @switchyard/tier-api (the admin console validates what it reads against them)
const Host = PopHost;
const Session = PopSession;
const SessionId = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });
const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 409: ErrorBody };

export async function buildApi(
  components: { control: PopControl },
  init: { token: string; logger?: boolean },
): Promise<FastifyInstance> {
  if (!init.token) throw new PopRouterError('POP_ERR_CONFIG', 'api: a bearer token is required');
  const { control } = components;
  const token = Buffer.from(init.token);
  const app = Fastify({
    logger: init.logger ?? false,
    ajv: { customOptions: { removeAdditional: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  await app.register(swagger, {
    openapi: {
      info: { title: 'Switchyard pop-router', version: '0.1.0' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });

  const send = (reply: FastifyReply, code: PopRouterErrorCode, message: string) =>
    reply.code(STATUS[code] ?? 500).send({ error: code, message });

  app.setErrorHandler((err: unknown, _req, reply) => {
    const e = err as { validation?: unknown; statusCode?: number; message?: string };
    if (err instanceof PopRouterError) return send(reply, err.code, err.message);
    if (e.validation || (e.statusCode && e.statusCode >= 400 && e.statusCode < 500))
      return send(reply, 'POP_ERR_BAD_REQUEST', e.message ?? 'bad request');
    reply.log.error({ err }, 'internal error');
    return reply.code(500).send({ error: 'POP_ERR_INTERNAL', message: e.message ?? 'internal error' });
  });

  const auth = async (req: FastifyRequest) => {
    const h = req.headers.authorization ?? '';
    const given = Buffer.from(h.startsWith('Bearer ') ? h.slice(7) : '');
    if (given.length !== token.length || !timingSafeEqual(given, token))
      throw new PopRouterError('POP_ERR_UNAUTHORIZED', 'a bearer token is required for this request');
  };
  const security = [{ bearer: [] }];

  app.get('/documentation/json', { schema: { hide: true } }, async () => app.swagger());

  app.get('/healthz', async (_req, reply) => {
    const h = control.health();
    return reply.code(h.ok ? 200 : 503).send(h);
  });

  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    const m = await control.metricsText();
    return reply.header('content-type', m.contentType).send(m.body);
  });

  app.get(
    '/v1/hosts',
    { schema: { response: { 200: Type.Object({ self: Type.String(), hosts: Type.Array(Host) }) } } },
    async () => ({ self: control.id, hosts: control.hosts() }),
  );

  app.get(
    '/v1/sessions',
    {
      schema: {
        querystring: Type.Object({ owner: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })) }),
        response: { 200: Type.Object({ sessions: Type.Array(Session) }) },
      },
    },
    async (req) => ({ sessions: control.sessions(req.query.owner) }),
  );

  app.get(
    '/v1/sessions/:id',
    { schema: { params: SessionId, response: { 200: Session, ...errors } } },
    async (req) => {
      const s = control.session(req.params.id);
      if (!s) throw new PopRouterError('POP_ERR_NOT_FOUND', `no open session ${req.params.id}`);
      return s;
    },
  );

  app.put(
    '/v1/sessions/:id',
    {
      onRequest: auth,
      schema: {
        params: SessionId,
        body: Type.Object({ epoch: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }) }),
        security,
        response: { 200: Session, ...errors },
      },
    },
    async (req) => control.claim(req.params.id, req.body.epoch),
  );

  app.delete(
    '/v1/sessions/:id',
    { onRequest: auth, schema: { params: SessionId, security, response: { 204: Type.Null(), ...errors } } },
    async (req, reply) => {
      control.release(req.params.id);
      return reply.code(204).send(null);
    },
  );

  for (const [path, draining] of [
    ['/v1/drain', true],
    ['/v1/undrain', false],
  ] as const) {
    app.post(
      path,
      {
        onRequest: auth,
        schema: { security, response: { 200: Type.Object({ draining: Type.Boolean() }), ...errors } },
      },
      async () => {
        control.setDraining(draining);
        return { draining };
      },
    );
  }
  return app;
}
