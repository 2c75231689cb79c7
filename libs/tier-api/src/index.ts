/**
 * @switchyard/tier-api: what the tiers' control APIs answer, as TypeBox schemas (to validate an answer) and the
 * types they give. Read by the admin console (it validates every poll against these); the tiers may later build
 * their route schemas from them, so that one definition serves both sides.
 */
export * from './scheduler.js';
export * from './dispatcher.js';
export * from './pop-router.js';
export * from './balancer.js';
