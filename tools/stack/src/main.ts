#!/usr/bin/env node
/** The full local stack: `npm start`. Starts every deployed tier on loopback and keeps it running until SIGINT/SIGTERM. */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type } from '@sinclair/typebox';
import { createLogger, parseCli, parseConfig, stopOnSignals, type CliSpec } from '@switchyard/core';
import { Supervisor } from './supervisor.js';
import { stackComponents, stackUsage, tiersNotDeployed, type StackConfig } from './stack.js';

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
    'scheduler-ports': {
      type: 'string',
      env: 'SWITCHYARD_SCHEDULER_PORTS',
      doc: 'API ports of the schedulers, one scheduler per port',
      defaultText: '8101,8102',
    },
    servers: {
      type: 'string',
      env: 'SWITCHYARD_SERVERS',
      doc: 'simulated conference servers',
      defaultText: '5',
    },
    'sip-listen': {
      type: 'string',
      env: 'SWITCHYARD_SIP_LISTEN',
      doc: 'SIP address of the host dispatcher (UDP and TCP)',
      defaultText: '127.0.0.1:5060',
    },
    'control-port': {
      type: 'string',
      env: 'SWITCHYARD_CONTROL_PORT',
      doc: "host dispatcher's control API port",
      defaultText: '8160',
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
  schedulerPorts: Type.String({ pattern: '^\\d+(,\\d+)*$', default: '8101,8102' }),
  servers: Type.Integer({ minimum: 1, maximum: 500, default: 5 }),
  sipListen: Type.String({ pattern: '^127\\.[0-9.]+:[0-9]+$', default: '127.0.0.1:5060' }),
  controlPort: Type.Integer({ minimum: 1, maximum: 65535, default: 8160 }),
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
  const stack: StackConfig = {
    root,
    dir: path.resolve(cfg.dir),
    host: cfg.host,
    redisPort: cfg.redisPort,
    schedulerPorts: cfg.schedulerPorts.split(',').map(Number),
    servers: cfg.servers,
    token: randomBytes(24).toString('base64url'),
    sipListen: cfg.sipListen,
    controlPort: cfg.controlPort,
  };
  const lines: string[] = [];
  try {
    for (const c of stackComponents(stack)) {
      await supervisor.start(c);
      const pid = String(supervisor.pids()[c.name]);
      lines.push(`  ${c.name.padEnd(18)} pid ${pid.padEnd(8)} ${(c.describe ?? []).join('  ')}`);
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
      `\n${stackUsage(stack)}\n` +
      (cfg.smoke ? '' : '\nCtrl-C stops everything.\n'),
  );
  if (cfg.smoke) {
    try {
      const placed = await smokeConference(stack);
      process.stdout.write(
        `smoke: conference ${placed.id} placed on ${placed.serverId} (epoch ${placed.epoch})\n`,
      );
      await smokeCalls(stack);
      process.stdout.write(
        `smoke: 4 SIPp calls to conference smoke through ${stack.sipListen}: all succeeded\n`,
      );
    } catch (err) {
      logger.error({ err }, 'smoke check failed');
      process.exitCode = 1;
    }
    await supervisor.stop();
    return;
  }
  stopOnSignals(supervisor, logger);
}

/** Four real calls with SIPp through the dispatcher; SIPp exits 0 only when every call succeeded. */
async function smokeCalls(stack: StackConfig): Promise<void> {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-stack-sipp-'));
  try {
    const r = spawnSync(
      'sipp',
      [
        '-sn',
        'uac',
        stack.sipListen,
        '-s',
        'smoke',
        '-m',
        '4',
        '-r',
        '4',
        '-i',
        stack.host,
        '-p',
        '0',
        '-nostdin',
        '-timeout',
        '15s',
        '-timeout_error',
      ],
      { cwd, encoding: 'utf8', timeout: 30_000 },
    );
    if (r.status !== 0)
      throw new Error(`sipp exited ${r.status}: ${(r.stdout ?? '').slice(-800)}${r.stderr ?? ''}`);
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

/** Creates a conference through one scheduler and waits (bounded) until another reports it placed. */
async function smokeConference(stack: StackConfig): Promise<{ id: string; serverId: string; epoch: number }> {
  const ports = stack.schedulerPorts;
  const api = (i: number) => `http://${stack.host}:${ports[i % ports.length]}`;
  const id = `smoke-${process.pid}`;
  const res = await fetch(`${api(0)}/v1/conferences`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id, expectedParticipants: 4 }),
  });
  if (res.status !== 201) throw new Error(`POST /v1/conferences answered ${res.status}: ${await res.text()}`);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const body = (await (await fetch(`${api(1)}/v1/conferences/${id}`)).json()) as {
      assignment?: { serverId: string; epoch: number };
    };
    if (body.assignment) return { id, ...body.assignment };
    if (Date.now() > deadline)
      throw new Error(`conference ${id} not placed within 15 s: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
