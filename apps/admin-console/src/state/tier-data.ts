/** What each tier's control API answers (the parts the console reads), as typed after validation. */
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

/** GET /workers of a host dispatcher (C6). */
export const WorkerList = Type.Object({
  workers: Type.Array(
    Type.Object({
      id: Type.String(),
      pid: Type.Number(),
      status: Type.String(),
      load: Type.Number(),
      state: Type.Optional(
        Type.Union([
          Type.Null(),
          Type.Object({
            dialogs: Type.Number(),
            conferences: Type.Array(Type.Object({ id: Type.String(), participants: Type.Number() })),
          }),
        ]),
      ),
    }),
  ),
});

/** GET /v1/hosts of a pop-router (C3). */
export const HostList = Type.Object({
  self: Type.String(),
  hosts: Type.Array(
    Type.Object({
      id: Type.String(),
      address: Type.String(),
      tunnel: Type.String(),
      state: Type.Union([
        Type.Literal('alive'),
        Type.Literal('suspect'),
        Type.Literal('dead'),
        Type.Literal('left'),
      ]),
      incarnation: Type.Number(),
      draining: Type.Boolean(),
      sessions: Type.Number(),
    }),
  ),
});

/** GET /v1/sessions?owner=<self> of a pop-router (C3). */
export const SessionList = Type.Object({
  sessions: Type.Array(
    Type.Object({ id: Type.String(), owner: Type.String(), epoch: Type.Number(), version: Type.Number() }),
  ),
});

/** GET /v1/services of a container balancer (C4). */
export const ServiceList = Type.Object({
  services: Type.Array(
    Type.Object({
      service: Type.String(),
      containers: Type.Array(
        Type.Object({
          id: Type.String(),
          mode: Type.String(),
          address: Type.Union([Type.String(), Type.Null()]),
          capacity: Type.Number(),
          reportedLoad: Type.Number(),
          inFlight: Type.Number(),
          score: Type.Number(),
          state: Type.String(),
          registeredAt: Type.Number(),
        }),
      ),
    }),
  ),
});

export type SchedulerData = {
  schedulers: Static<typeof SchedulerList>;
  servers: Static<typeof ServerList>;
  conferences: Static<typeof ConferencePage>['items'];
};
export type DispatcherData = Static<typeof WorkerList>;
export type PopRouterData = Static<typeof HostList> & { sessions: Static<typeof SessionList>['sessions'] };
export type BalancerData = Static<typeof ServiceList>;
