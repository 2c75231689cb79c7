#!/usr/bin/env node
/** The mixer process: flags and env (`--help`), config validated once, pino logs, graceful SIGTERM. */
import { createLogger, stopOnSignals, systemClock } from '@switchyard/core';
import { MixerApp } from './app.js';
import { MixerSettings, resolveMixerConfig } from './settings.js';

async function main(): Promise<void> {
  const r = MixerSettings.load(process.argv.slice(2), process.env);
  if (r.help) {
    process.stdout.write(r.text);
    return;
  }
  const config = resolveMixerConfig(r.config);
  const logger = createLogger('mixer').child({ mixer: config.id });
  const app = new MixerApp({ clock: systemClock, logger }, config);
  await app.start();
  process.stdout.write(
    `${JSON.stringify({ mixer: 'ready', id: config.id, mode: config.mode, url: app.url ?? null, pid: process.pid })}\n`,
  );
  stopOnSignals(app, logger);
}

main().catch((err: unknown) => {
  process.stderr.write(`mixer: ${(err as Error).message}\n`);
  process.exit(1);
});
