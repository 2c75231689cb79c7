/**
 * @switchyard/server-agent: conference-server agent: registers, publishes load, answers keep-alive probes
 */
export {};
