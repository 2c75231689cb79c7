#!/usr/bin/env node
/** The full local stack: `npm start`. Starts every deployed tier on loopback and keeps it running until SIGINT/SIGTERM. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type } from '@sinclair/typebox';
import { createLogger, parseCli, parseConfig, stopOnSignals, type CliSpec } from '@switchyard/core';
import { Supervisor } from './supervisor.js';
import { stackComponents, tiersNotDeployed } from './stack.js';

const cli: CliSpec = {
  name: 'switchyard-stack',
  summary: 'run the full Switchyard stack on this machine (loopback only)',
  options: {
    dir: {
      type: 'string',
      env: 'SWITCHYARD_STACK_DIR',
      doc: 'state directory',
      defaultText: '.switchyard/stack',
    },
    host: {
      type: 'string',
      env: 'SWITCHYARD_STACK_HOST',
      doc: 'loopback address to bind',
      defaultText: '127.0.0.1',
    },
    'redis-port': {
      type: 'string',
      env: 'SWITCHYARD_REDIS_PORT',
      doc: "port of the stack's private Redis",
      defaultText: '6390',
    },
    smoke: {
      type: 'boolean',
      doc: 'start everything, check it is ready, then stop (exit 0 when all came up)',
    },
  },
  examples: ['npm start', 'node tools/stack/dist/main.js --redis-port 6400 --smoke'],
};

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const schema = Type.Object({
  dir: Type.String({ default: path.join(root, '.switchyard/stack') }),
  host: Type.String({ default: '127.0.0.1', pattern: '^127\\.' }),
  redisPort: Type.Integer({ minimum: 1, maximum: 65535, default: 6390 }),
  smoke: Type.Boolean({ default: false }),
});

async function main(): Promise<void> {
  const parsed = parseCli(cli, process.argv.slice(2));
  if (parsed.help) {
    process.stdout.write(parsed.text);
    return;
  }
  const cfg = parseConfig(schema, parsed.values);
  const logger = createLogger('stack');
  const supervisor = new Supervisor({ logger });
  const lines: string[] = [];
  try {
    for (const c of stackComponents({
      root,
      dir: path.resolve(cfg.dir),
      host: cfg.host,
      redisPort: cfg.redisPort,
    })) {
      await supervisor.start(c);
      lines.push(
        `  ${c.name.padEnd(18)} pid ${String(supervisor.pids()[c.name]).padEnd(8)} ${(c.describe ?? []).join('  ')}`,
      );
    }
  } catch (err) {
    logger.error({ err }, 'stack failed to start');
    await supervisor.stop();
    process.exitCode = 1;
    return;
  }
  process.stdout.write(
    `\nSwitchyard stack is up:\n${lines.join('\n')}\n` +
      (tiersNotDeployed.length ? `  not deployed yet: ${tiersNotDeployed.join(', ')}\n` : '') +
      (cfg.smoke ? '' : '\nCtrl-C stops everything.\n'),
  );
  if (cfg.smoke) {
    await supervisor.stop();
    return;
  }
  stopOnSignals(supervisor, logger);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
