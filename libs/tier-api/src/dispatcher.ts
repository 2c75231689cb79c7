/** The host dispatcher's control API (contract C6). */
import { Type, type Static } from '@sinclair/typebox';

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

export type WorkerInfo = Static<typeof WorkerList>['workers'][number];
