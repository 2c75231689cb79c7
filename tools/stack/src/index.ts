/**
 * @switchyard/stack: full local stack launcher
 */
export {};
