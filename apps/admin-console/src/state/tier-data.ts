/**
 * What the console keeps of each tier's answers. The answers' schemas and types are @switchyard/tier-api's
 * (shared, type:lib); here only how the console groups them per polled process.
 */
import type { Static } from '@sinclair/typebox';
import type {
  ConferencePage,
  HostList,
  SchedulerList,
  ServerList,
  ServiceList,
  SessionList,
  WorkerList,
} from '@switchyard/tier-api';

export {
  ConferencePage,
  HostList,
  SchedulerList,
  ServerList,
  ServiceList,
  SessionList,
  WorkerList,
} from '@switchyard/tier-api';

export type SchedulerData = {
  schedulers: Static<typeof SchedulerList>;
  servers: Static<typeof ServerList>;
  conferences: Static<typeof ConferencePage>['items'];
};
export type DispatcherData = Static<typeof WorkerList>;
export type PopRouterData = Static<typeof HostList> & { sessions: Static<typeof SessionList>['sessions'] };
export type BalancerData = Static<typeof ServiceList>;
