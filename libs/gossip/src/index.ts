/**
 * @switchyard/gossip: SWIM membership and session-ownership dissemination
 */
export {};
