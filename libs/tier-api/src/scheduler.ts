/** The global scheduler's API (apps/global-scheduler/src/api): the answers other processes read. */
import { Type, type Static } from '@sinclair/typebox';

const Share = Type.Object({
  round: Type.Number(),
  total: Type.Number(),
  n: Type.Number(),
  share: Type.Number(),
  claimed: Type.Number(),
  placed: Type.Number(),
  unplaceable: Type.Number(),
  at: Type.Number(),
});

/** GET /v1/schedulers of a scheduler. */
export const SchedulerList = Type.Array(
  Type.Object({
    id: Type.String(),
    address: Type.String(),
    region: Type.String(),
    lastShare: Type.Optional(Share),
  }),
);

/** GET /v1/servers of a scheduler. */
export const ServerList = Type.Array(
  Type.Object({
    id: Type.String(),
    address: Type.String(),
    region: Type.String(),
    state: Type.String(),
    load: Type.Number(),
    capacity: Type.Number(),
    reserved: Type.Number(),
    conferences: Type.Number(),
    markedDown: Type.Boolean(),
    live: Type.Boolean(),
  }),
);

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
