/** The container balancer's API (contract C4). */
import { Type, type Static } from '@sinclair/typebox';

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

export type ContainerInfo = Static<typeof ServiceList>['services'][number]['containers'][number];
