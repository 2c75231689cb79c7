/**
 * What the console keeps of each tier's answers. The answers' schemas and types are @switchyard/tier-api's
 * (shared, type:lib); here only how the console groups them per polled process.
 */
import type { Static } from '@sinclair/typebox';
import type * as Api from '@switchyard/tier-api';

export type SchedulerData = {
  schedulers: Static<typeof Api.SchedulerList>;
  servers: Static<typeof Api.ServerList>;
  conferences: Static<typeof Api.ConferencePage>['items'];
};
export type DispatcherData = Static<typeof Api.WorkerList>;
export type PopRouterData = Static<typeof Api.HostList> & {
  sessions: Static<typeof Api.SessionList>['sessions'];
};
export type BalancerData = Static<typeof Api.ServiceList>;
