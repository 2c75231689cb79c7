/** JSON schemas of the API (TypeBox), shared by validation, the type provider and the OpenAPI document. */
import { Type, type Static } from '@fastify/type-provider-typebox';
import { SchedulerEntry, ServerEntry } from '@switchyard/tier-api';

/** One id length for every route: what can be created can be read and ended (the router's limit is the same). */
export const ID_MAX_LENGTH = 128;

export const ConferenceId = Type.String({
  pattern: `^[A-Za-z0-9][A-Za-z0-9._:@-]{0,${ID_MAX_LENGTH - 1}}$`,
  maxLength: ID_MAX_LENGTH,
  description: 'conference id',
});

/** The latest representable start (year 9999); the configured horizon (maxStartAheadMs) is checked as well. */
const START_MAX = 253_402_300_799_999;

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
    startAt: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: START_MAX,
        description: 'ms since epoch; default now; at most maxStartBehindMs ago and maxStartAheadMs ahead',
      }),
    ),
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

export const UnplaceableReason = Type.Union(
  [Type.Literal('no-servers'), Type.Literal('too-large'), Type.Literal('no-room')],
  {
    description:
      'no-servers: no live serving server; too-large: more participants than any server holds; no-room: none has room now',
  },
);

export const Unplaceable = Type.Object({
  reason: UnplaceableReason,
  attempts: Type.Integer({ description: 'placements tried and failed in a row' }),
  retryAt: Type.Integer({ description: 'next try at the latest (ms); earlier when capacity appears' }),
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
  unplaceable: Type.Optional(Unplaceable),
  history: Type.Optional(
    Type.Array(
      Type.Object({
        from: Type.String(),
        to: Type.Optional(Type.String()),
        epoch: Type.Optional(Type.Integer()),
        at: Type.Integer(),
        reason: Type.Union([Type.Literal('operator'), Type.Literal('server-down')]),
      }),
      { description: 'its moves, oldest first (the last 20)' },
    ),
  ),
});

export const MoveConference = Type.Object(
  {
    to: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: ID_MAX_LENGTH,
        description: 'conference-server id; absent: the best other serving server with room',
      }),
    ),
  },
  { additionalProperties: false },
);

export const ConferencePage = Type.Object({
  items: Type.Array(Conference),
  next: Type.Optional(Type.String()),
});

// query strings are text: the limit is matched as digits (no type coercion anywhere), then converted
export const ListQuery = Type.Object(
  {
    cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })),
    limit: Type.Optional(
      Type.String({ pattern: '^(1000|[1-9][0-9]{0,2})$', description: '1..1000, default 100' }),
    ),
  },
  { additionalProperties: false },
);

export const ConferenceParams = Type.Object({ id: ConferenceId }, { additionalProperties: false });
export const ServerParams = Type.Object(
  { id: Type.String({ minLength: 1, maxLength: ID_MAX_LENGTH }) },
  { additionalProperties: false },
);

export const UnplaceableList = Type.Object({
  counts: Type.Object({
    'no-servers': Type.Integer(),
    'too-large': Type.Integer(),
    'no-room': Type.Integer(),
  }),
  items: Type.Array(Conference, { description: 'up to `limit` of them, any order' }),
});

/** Served here, read by the admin console: one definition in `@switchyard/tier-api`. */
export const Server = ServerEntry;
export const SchedulerInfo = SchedulerEntry;

export const ErrorBody = Type.Object({
  error: Type.String({ description: 'SCH_ERR_… code' }),
  message: Type.String(),
  field: Type.Optional(Type.String()),
});
