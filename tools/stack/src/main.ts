#!/usr/bin/env node
/**
 * The full local stack: `npm start`. Starts what the topology file says, on loopback, showing each component's
 * progress; keeps it running (restarting a component that dies) until SIGINT/SIGTERM, then stops everything by pid.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type } from '@sinclair/typebox';
import { createLogger, defineSettings, setting, stopOnSignals } from '@switchyard/core';
import { Supervisor, type SupervisorEvent } from './supervisor.js';
import { stackComponents, stackUsage, type StackConfig } from './stack.js';
import { loadTopology } from './topology.js';
import { runSmoke } from './smoke.js';
import { netnsRefusal, netnsStackUsage, startNetnsStack, type NetnsStack } from './netns-stack.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

const Settings = defineSettings({
  name: 'switchyard-stack',
  summary: 'run the full Switchyard stack on this machine (loopback only), as a topology file describes it',
  schema: Type.Object({
    topology: setting(
      Type.String({ minLength: 1 }),
      path.join(root, 'tools/stack/topology.default.json'),
      'topology file (JSON): what runs and where; see docs/stack.md',
      'SWITCHYARD_TOPOLOGY',
    ),
    dir: setting(
      Type.String({ minLength: 1 }),
      path.join(root, '.switchyard/stack'),
      'state directory (Redis data, token file, one log file per component)',
      'SWITCHYARD_STACK_DIR',
    ),
    netns: setting(
      Type.Boolean(),
      false,
      'root only: run the POP hosts in network namespaces behind an ECMP router namespace (vxlan, multicast gossip), the other services in a namespace of their own; everything deleted on exit',
      'SWITCHYARD_NETNS',
    ),
    smoke: setting(
      Type.Boolean(),
      false,
      'start everything, place a conference and call it with SIPp through the stack, then stop (exit 0 when all passed)',
    ),
  }),
  examples: [
    'npm start',
    'node tools/stack/dist/main.js --topology my-topology.json --smoke',
    'sudo npm start -- --netns',
  ],
});

function progress(e: SupervisorEvent): void {
  const name = e.name.padEnd(14);
  const line = (() => {
    switch (e.type) {
      case 'starting':
        return `starting   ${name} pid ${e.pid ?? '-'}`;
      case 'ready':
        return `ready      ${name} pid ${e.pid ?? '-'}`;
      case 'failed':
        return `FAILED     ${name} ${e.reason}`;
      case 'exited':
        return `EXITED     ${name} pid ${e.pid ?? '-'} (${e.signal ?? `code ${e.code}`}); restarting`;
      case 'restarted':
        return `restarted  ${name} new pid ${e.pid ?? '-'}`;
      case 'left-down':
        return `DOWN       ${name} exited too often; left down`;
      case 'stopped':
        return `stopped    ${name} pid ${e.pid ?? '-'}`;
    }
  })();
  process.stdout.write(`[stack] ${line}\n`);
}

async function main(): Promise<void> {
  const r = Settings.load(process.argv.slice(2), process.env);
  if (r.help) {
    process.stdout.write(r.text);
    return;
  }
  const cfg = r.config;
  if (cfg.netns) {
    const refusal = netnsRefusal();
    if (refusal) {
      process.stderr.write(`${refusal}\n`);
      process.exitCode = 2;
      return;
    }
    if (cfg.smoke) {
      process.stderr.write(
        '--smoke runs on the loopback stack only (the namespace stack has its own test)\n',
      );
      process.exitCode = 2;
      return;
    }
  }
  const topology = loadTopology(cfg.topology);
  const dir = path.resolve(cfg.dir);
  const logs = path.join(dir, 'logs');
  fs.mkdirSync(logs, { recursive: true });
  // the progress lines are the stack's output; its own log says only what went wrong
  const logger = createLogger('stack', { level: process.env['LOG_LEVEL'] ?? 'warn' });
  const files = new Map<string, fs.WriteStream>();
  const supervisor = new Supervisor({
    logger,
    events: progress,
    output: (name, line) => {
      let f = files.get(name);
      if (!f) files.set(name, (f = fs.createWriteStream(path.join(logs, `${name}.log`), { flags: 'a' })));
      f.write(line + '\n');
    },
  });
  // Ctrl-C while starting stops what has started, too
  stopOnSignals(supervisor, logger, 10_000);
  if (cfg.netns) {
    await runNetns(root, dir, cfg.topology, topology, logger, files, logs);
    return;
  }
  const stack: StackConfig = { root, dir, topology, token: randomBytes(24).toString('base64url') };
  const plan = stackComponents(stack);
  for (const s of plan.skipped) process.stdout.write(`[stack] skipped    ${s.name.padEnd(14)} ${s.reason}\n`);
  const lines: string[] = [];
  try {
    const phases = [...new Set(plan.components.map((c) => c.phase ?? 0))].sort((a, b) => a - b);
    for (const phase of phases) {
      const batch = plan.components.filter((c) => (c.phase ?? 0) === phase);
      const results = await Promise.allSettled(batch.map((c) => supervisor.start(c)));
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
    for (const c of plan.components) {
      const pid = String(supervisor.pids()[c.name]);
      lines.push(`  ${c.name.padEnd(14)} pid ${pid.padEnd(8)} ${(c.describe ?? []).join('  ')}`);
    }
  } catch (err) {
    logger.error({ err }, 'stack failed to start');
    process.stdout.write(`[stack] logs: ${logs}\n`);
    await supervisor.stop();
    process.exitCode = 1;
    return;
  }
  process.stdout.write(
    `\nSwitchyard stack is up (topology ${cfg.topology}):\n${lines.join('\n')}\n` +
      (plan.skipped.length
        ? `  not running (not built on this branch): ${plan.skipped.map((s) => s.name).join(', ')}\n`
        : '') +
      `  logs: ${logs}/<component>.log\n\n${stackUsage(stack)}\n` +
      (cfg.smoke ? '' : '\nCtrl-C stops everything.\n'),
  );
  if (cfg.smoke) {
    try {
      for await (const line of runSmoke(stack)) process.stdout.write(`smoke: ${line}\n`);
    } catch (err) {
      process.stdout.write(`smoke: FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
    await supervisor.stop();
    return;
  }
}

async function runNetns(
  root: string,
  dir: string,
  topologyFile: string,
  topology: ReturnType<typeof loadTopology>,
  logger: ReturnType<typeof createLogger>,
  files: Map<string, fs.WriteStream>,
  logs: string,
): Promise<void> {
  let stack: NetnsStack | undefined;
  let stopRequested = false;
  // Ctrl-C while starting: startNetnsStack's own failure path deletes what it made; after: stop() does
  const holder = {
    stop: async () => {
      stopRequested = true;
      await stack?.stop();
    },
  };
  stopOnSignals(holder, logger, 10_000);
  try {
    stack = await startNetnsStack({
      root,
      dir,
      topology,
      token: randomBytes(24).toString('base64url'),
      logger,
      events: progress,
      progress: (line) => process.stdout.write(`[stack] ${line}\n`),
      output: (name, line) => {
        let f = files.get(name);
        if (!f) files.set(name, (f = fs.createWriteStream(path.join(logs, `${name}.log`), { flags: 'a' })));
        f.write(line + '\n');
      },
    });
  } catch (err) {
    logger.error({ err }, 'stack failed to start');
    process.stdout.write(
      `[stack] FAILED: ${err instanceof Error ? err.message : String(err)}\n[stack] logs: ${logs}\n`,
    );
    process.exitCode = 1;
    return;
  }
  if (stopRequested) await stack.stop();
  process.stdout.write(
    `\nSwitchyard stack is up in network namespaces (topology ${topologyFile}):\n` +
      `  logs: ${logs}/<component>.log\n\n${netnsStackUsage(stack)}\n\nCtrl-C stops everything and deletes the namespaces.\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
