/**
 * @switchyard/mixer (tier 4 sample workload): a conference media relay container. It dials in to the container
 * balancer as service `mixer`, answers allocations with an RTP address and port per conference, and relays each
 * participant's RTP to every other participant of the conference (SFU style).
 *
 * @example
 * ```ts
 * import { createLogger, systemClock } from '@switchyard/core';
 * import { MixerApp, MixerSettings, resolveMixerConfig } from '@switchyard/mixer';
 * const config = resolveMixerConfig(MixerSettings.parse({ id: 'm1', balancer: '127.0.0.1:8701', registrationToken: 't0ken-123' }));
 * await new MixerApp({ clock: systemClock, logger: createLogger('mixer') }, config).start();
 * ```
 */
export * from './errors.js';
export * from './defaults.js';
export * from './settings.js';
export * from './app.js';
export * from './relay/room.js';
export * from './relay/relay-server.js';
