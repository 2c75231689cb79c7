/** Request and response schemas of the control API (TypeBox → JSON schema → validation and OpenAPI). */
import { Type } from '@sinclair/typebox';

export const ErrorBody = Type.Object({ code: Type.String(), message: Type.String() });

export const ContainerSchema = Type.Object({
  id: Type.String(),
  mode: Type.Union([Type.Literal('direct'), Type.Literal('reverse')]),
  address: Type.Union([Type.String(), Type.Null()]),
  capacity: Type.Number(),
  reportedLoad: Type.Number(),
  inFlight: Type.Integer(),
  score: Type.Number(),
  state: Type.Union([Type.Literal('serving'), Type.Literal('draining')]),
  ready: Type.Boolean(),
  registeredAt: Type.Integer(),
  /** What the container declared in `meta.pipelining`; null: the balancer's `--upstream-pipelining` applies. */
  pipelining: Type.Union([Type.Integer(), Type.Null()]),
});

export const ServicesBody = Type.Object({
  services: Type.Array(Type.Object({ service: Type.String(), containers: Type.Array(ContainerSchema) })),
});

export const AllocationRequest = Type.Object(
  {
    service: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }),
    key: Type.String({ minLength: 1, maxLength: 256 }),
  },
  { additionalProperties: false },
);

export const AllocationBody = Type.Object({
  service: Type.String(),
  key: Type.String(),
  containerId: Type.String(),
  allocation: Type.Unknown(),
});

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });

export const PickLogQuery = Type.Object({ after: Type.Integer({ minimum: 0, default: 0 }) });

export const PickLogBody = Type.Object({
  picks: Type.Array(
    Type.Object({
      seq: Type.Integer(),
      service: Type.String(),
      key: Type.Union([Type.String(), Type.Null()]),
      chosen: Type.String(),
      chosenScore: Type.Number(),
      candidates: Type.Array(Type.Object({ id: Type.String(), score: Type.Number() })),
    }),
  ),
});
