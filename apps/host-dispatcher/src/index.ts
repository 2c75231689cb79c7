/**
 * @switchyard/host-dispatcher: tier 3: SIP dispatcher with descriptor passing and conference affinity
 */
export {};
