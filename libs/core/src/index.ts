/**
 * @switchyard/core: what every Switchyard package shares — the injected {@link Clock}, typed errors with stable
 * codes, config validated once and frozen, command-line parsing with `--help`, pino logging and the
 * {@link Startable} lifecycle.
 *
 * @example
 * ```ts
 * import { ManualClock } from '@switchyard/core';
 * const clock = new ManualClock();
 * clock.setTimeout(() => console.log('fired at', clock.now()), 1000);
 * clock.advance(1000);
 * ```
 */
export * from './clock.js';
export * from './errors.js';
export * from './config.js';
export * from './cli.js';
export * from './settings.js';
export * from './logger.js';
export * from './lifecycle.js';
