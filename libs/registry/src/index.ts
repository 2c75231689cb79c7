/**
 * @switchyard/registry: service records, TTL leases, change feed and push channel
 */
export {};
