#!/usr/bin/env node
/** The pop-router process: flags and env (`--help`), config validated once, pino, graceful SIGTERM (leave, stop). */
import { createLogger, stopOnSignals } from '@switchyard/core';
import { loadKeyringFile, resolveToken } from './keyring-file.js';
import { PopRouter } from './pop-router.js';
import { PopRouterSettings } from './settings.js';

async function main(): Promise<void> {
  const r = PopRouterSettings.load(process.argv.slice(2), process.env);
  if (r.help) {
    process.stdout.write(r.text);
    return;
  }
  const config = r.config;
  const { keyring, tunnelKeys } = loadKeyringFile(config.keyringFile);
  const token = resolveToken(config.token, config.tokenFile);
  const logger = createLogger('pop-router').child({ host: config.id });
  const router = new PopRouter({ logger }, { ...config, keyring, tunnelKeys, token });
  await router.start();
  process.stdout.write(
    `${JSON.stringify({ popRouter: 'ready', id: config.id, url: router.url, gossip: router.node.address, tunnel: router.tunnelAddress ?? null, pid: process.pid })}\n`,
  );
  stopOnSignals(router, logger);
}

main().catch((err: unknown) => {
  const e = err as { code?: string; message?: string };
  process.stderr.write(`pop-router: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}\n`);
  process.exit(1);
});
