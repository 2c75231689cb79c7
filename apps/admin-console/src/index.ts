/**
 * @switchyard/admin-console: a live web console of every Switchyard tier. The server follows the registry feed
 * and polls the tiers' control APIs, keeps one snapshot and pushes changes to the page over Server-Sent Events;
 * operators log in to act on the tiers (every action audited).
 *
 * @example
 * ```ts
 * import { ConsoleApp, ConsoleSettings } from '@switchyard/admin-console';
 * const config = ConsoleSettings.parse({ port: 0, schedulerUrl: ['http://127.0.0.1:8080'], password: 'correct horse' });
 * const app = new ConsoleApp({}, config);
 * await app.start();
 * console.log(app.url);
 * await app.stop();
 * ```
 */
export * from './settings.js';
export * from './errors.js';
export * from './app.js';
export * from './metrics.js';
export * from './state/console-state.js';
export * from './auth/password.js';
export * from './auth/login-limiter.js';
export * from './auth/sessions.js';
export * from './shared/model.js';
export * from './shared/actions.js';
