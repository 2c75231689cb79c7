/** JSON schemas of the API (TypeBox), shared by validation, the type provider and the OpenAPI document. */
import { Type, type Static } from '@fastify/type-provider-typebox';

export const ConferenceId = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$',
  description: 'conference id',
});

export const CreateConference = Type.Object(
  {
    id: ConferenceId,
    region: Type.Optional(
      Type.String({ pattern: '^[a-z0-9-]{1,32}$', description: "region; default the scheduler's" }),
    ),
    expectedParticipants: Type.Integer({
      minimum: 1,
      maximum: 100_000,
      description: 'capacity units reserved',
    }),
    startAt: Type.Optional(Type.Integer({ minimum: 0, description: 'ms since epoch; default now' })),
    durationS: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 7 * 86400, description: 'seconds; default 3600' }),
    ),
  },
  { additionalProperties: false },
);
export type CreateConferenceBody = Static<typeof CreateConference>;

export const Assignment = Type.Object({
  serverId: Type.String(),
  address: Type.String(),
  epoch: Type.Integer(),
  expiresAt: Type.Integer(),
  moves: Type.Integer(),
  placedAt: Type.Integer(),
});

export const Conference = Type.Object({
  id: Type.String(),
  region: Type.String(),
  expectedParticipants: Type.Integer(),
  startAt: Type.Integer(),
  durationS: Type.Integer(),
  createdAt: Type.Integer(),
  state: Type.Union([
    Type.Literal('pending'),
    Type.Literal('claimed'),
    Type.Literal('placed'),
    Type.Literal('unplaceable'),
  ]),
  assignment: Type.Optional(Assignment),
  claimedBy: Type.Optional(Type.String()),
});

export const ConferencePage = Type.Object({
  items: Type.Array(Conference),
  next: Type.Optional(Type.String()),
});

export const ListQuery = Type.Object(
  {
    cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  },
  { additionalProperties: false },
);

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });

export const Server = Type.Object({
  id: Type.String(),
  address: Type.String(),
  region: Type.String(),
  state: Type.String(),
  load: Type.Number(),
  capacity: Type.Number(),
  reserved: Type.Number(),
  conferences: Type.Integer(),
  markedDown: Type.Boolean(),
  live: Type.Boolean({
    description: 'its registry record is live (false: expired, kept while it holds conferences)',
  }),
});

export const SchedulerInfo = Type.Object({
  id: Type.String(),
  address: Type.String(),
  region: Type.String(),
  lastShare: Type.Optional(
    Type.Object({
      round: Type.Integer(),
      total: Type.Integer(),
      n: Type.Integer(),
      share: Type.Integer(),
      claimed: Type.Integer(),
      placed: Type.Integer(),
      unplaceable: Type.Integer(),
      at: Type.Integer(),
    }),
  ),
});

export const ErrorBody = Type.Object({
  error: Type.String({ description: 'SCH_ERR_… code' }),
  message: Type.String(),
  field: Type.Optional(Type.String()),
});
