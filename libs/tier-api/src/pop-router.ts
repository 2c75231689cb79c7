/** The pop-router's control API (contract C3). */
import { Type, type Static } from '@sinclair/typebox';

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

export type PopHostInfo = Static<typeof HostList>['hosts'][number];
export type SessionInfo = Static<typeof SessionList>['sessions'][number];
