#!/usr/bin/env node
/** The balancer process: flags and env (`--help`), config validated once, pino logs, graceful SIGTERM. */
import { createLogger, stopOnSignals, systemClock } from '@switchyard/core';
import { BalancerApp } from './app.js';
import { BalancerSettings, resolveConfig } from './settings.js';

async function main(): Promise<void> {
  const r = BalancerSettings.load(process.argv.slice(2), process.env);
  if (r.help) {
    process.stdout.write(r.text);
    return;
  }
  const config = resolveConfig(r.config);
  const logger = createLogger('container-balancer');
  const app = new BalancerApp({ clock: systemClock, logger }, config);
  await app.start();
  const reg = app.registrationAddress();
  logger.info({ url: app.url, register: reg, tls: config.tlsValue !== undefined }, 'balancer listening');
  process.stdout.write(
    `${JSON.stringify({ balancer: 'ready', url: app.url, register: `${reg.host}:${reg.port}`, pid: process.pid })}\n`,
  );
  stopOnSignals(app, logger);
}

main().catch((err: unknown) => {
  process.stderr.write(`container-balancer: ${(err as Error).message}\n`);
  process.exit(1);
});
