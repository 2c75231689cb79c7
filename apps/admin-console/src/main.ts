#!/usr/bin/env node
/** The console process: flags and env (`--help`), config validated once, graceful SIGTERM. */
import { createLogger, stopOnSignals } from '@switchyard/core';
import { ConsoleApp } from './app.js';
import { ConsoleMetrics } from './metrics.js';
import { ConsoleSettings } from './settings.js';

async function main(): Promise<void> {
  const r = ConsoleSettings.load(process.argv.slice(2), process.env);
  if (r.help) {
    process.stdout.write(r.text);
    return;
  }
  const logger = createLogger('admin-console');
  const app = new ConsoleApp({ logger, metrics: new ConsoleMetrics(true) }, r.config);
  await app.start();
  const login =
    r.config.passwordFile || r.config.password
      ? 'log in as operator with the configured password'
      : 'read-only (no --password-file)';
  logger.info({ url: app.url }, 'console listening');
  process.stdout.write(`${JSON.stringify({ console: 'ready', url: app.url, pid: process.pid, login })}\n`);
  stopOnSignals(app, logger);
}

main().catch((err: unknown) => {
  process.stderr.write(`admin-console: ${(err as Error).message}\n`);
  process.exit(1);
});
