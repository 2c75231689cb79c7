/** The pop-router's control API (contract C3). */
import { Type, type Static } from '@sinclair/typebox';

/** One host of the POP as a pop-router sees it (C3): served by the pop-router, read by the console. */
export const PopHost = Type.Object({
  id: Type.String(),
  address: Type.String(),
  tunnel: Type.String(),
  state: Type.Union([
    Type.Literal('alive'),
    Type.Literal('suspect'),
    Type.Literal('dead'),
    Type.Literal('left'),
  ]),
  incarnation: Type.Integer(),
  draining: Type.Boolean(),
  sessions: Type.Integer(),
});

/** One session's owner as a pop-router knows it (C3). */
export const PopSession = Type.Object({
  id: Type.String(),
  owner: Type.String(),
  epoch: Type.Integer(),
  version: Type.Integer(),
});

/** GET /v1/hosts of a pop-router (C3). */
export const HostList = Type.Object({ self: Type.String(), hosts: Type.Array(PopHost) });

/** GET /v1/sessions?owner=<self> of a pop-router (C3). */
export const SessionList = Type.Object({ sessions: Type.Array(PopSession) });

export type PopHostInfo = Static<typeof HostList>['hosts'][number];
export type SessionInfo = Static<typeof SessionList>['sessions'][number];
