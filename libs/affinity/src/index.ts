/**
 * @switchyard/affinity: session keys, affinity table and load-aware selection
 */
export {};
