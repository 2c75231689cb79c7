/**
 * @switchyard/global-scheduler: tier 1: scheduler cluster that shares the conference workload
 */
export {};
