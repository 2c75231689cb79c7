/** The global scheduler's API (apps/global-scheduler/src/api): the answers other processes read. */
import { Type, type Static } from '@sinclair/typebox';

/** One scheduler of the cluster (GET /v1/schedulers): served by the scheduler, read by the console. */
export const SchedulerEntry = Type.Object({
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

/** One conference server as the schedulers see it (GET /v1/servers, /v1/servers/:id). */
export const ServerEntry = Type.Object({
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
    description:
      'its registry record is live (false: expired, kept while it holds conferences or for a grace)',
  }),
  down: Type.Boolean({ description: 'marked down by keep-alive, or its record lapsed' }),
  lastSeenAt: Type.Integer({ description: 'ms; when it was last known alive (now for a live record)' }),
  probe: Type.String({ description: "keep-alive mode: 'sip' (OPTIONS), 'http' (GET) or 'none'" }),
});

/** GET /v1/schedulers of a scheduler. */
export const SchedulerList = Type.Array(SchedulerEntry);

/** GET /v1/servers of a scheduler. */
export const ServerList = Type.Array(ServerEntry);

/** GET /v1/conferences of a scheduler (one page). */
export const ConferencePage = Type.Object({
  items: Type.Array(
    Type.Object({
      id: Type.String(),
      region: Type.String(),
      expectedParticipants: Type.Number(),
      state: Type.String(),
      assignment: Type.Optional(
        Type.Object({ serverId: Type.String(), epoch: Type.Number(), moves: Type.Number() }),
      ),
    }),
  ),
});

export type SchedulerInfo = Static<typeof SchedulerList>[number];
export type ServerInfo = Static<typeof ServerList>[number];
export type ConferenceInfo = Static<typeof ConferencePage>['items'][number];
