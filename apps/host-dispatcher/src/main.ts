#!/usr/bin/env node
/** `host-dispatcher`: the primary process. Settings: {@link DispatcherSettings}. See docs/host-dispatcher.md. */
import { createLogger, stopOnSignals } from '@switchyard/core';
import { loadDispatcherConfig } from './config.js';
import { DispatcherService } from './service.js';
import { mediaEnv } from './worker/media.js';

/** Beyond the drain, workers get this long (ms) to exit before the signal handler gives up. */
const STOP_GRACE_MS = 10_000;

async function main(): Promise<void> {
  const r = loadDispatcherConfig(process.argv.slice(2));
  if (r.help) {
    process.stdout.write(r.text);
    return;
  }
  Object.assign(process.env, mediaEnv(r.config)); // the forked workers inherit them
  const logger = createLogger('host-dispatcher');
  const service = new DispatcherService({ logger }, r.config);
  stopOnSignals(service, logger, r.config.drainTimeoutMs + STOP_GRACE_MS);
  await service.start();
}

main().catch((err: unknown) => {
  process.stderr.write(`host-dispatcher: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
