/**
 * The composed stack for end-to-end tests: the same components `npm start` runs (tools/stack), on free ports, with
 * the POP hosts on 127.14.<random>.N, started by a Supervisor the test controls (so a test can kill -9 one host).
 * SIPp runs asynchronously, several processes at once (each process is one RTP source port, so the mixer sees
 * several participants and relays between them).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '@switchyard/core';
import {
  Supervisor,
  parseTopology,
  popHosts,
  stackComponents,
  uacRtpScenario,
  type StackConfig,
  type StackPlan,
} from '@switchyard/stack';
import { freePort, freeTcpUdpPort, spawnProcess } from '@switchyard/testing';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface E2eStack {
  cfg: StackConfig;
  plan: StackPlan;
  sup: Supervisor;
  dir: string;
  stop(): Promise<void>;
}

/** Starts the whole composed stack (every tier this branch has built), phase by phase; throws if any fails. */
export async function startStack(o: { hosts: number; mixers: number }): Promise<E2eStack> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-e2e-'));
  const prefix = `127.14.${1 + Math.floor(Math.random() * 250)}`;
  const topology = parseTopology({
    redis: { port: await freePort() },
    schedulers: { count: 2, basePort: await freePort() },
    pop: {
      hosts: o.hosts,
      addressPrefix: prefix,
      sipPort: await freeTcpUdpPort(`${prefix}.1`),
      controlPort: await freePort(`${prefix}.1`),
      routerPort: await freePort(`${prefix}.1`),
      gossipPort: await freeTcpUdpPort(`${prefix}.1`),
      tunnelPort: await freeTcpUdpPort(`${prefix}.1`),
      workers: 1,
    },
    balancer: {
      port: await freePort(),
      registerPort: await freePort(),
      mixers: o.mixers,
      mixerBasePort: await freePort(),
    },
    console: { enabled: false },
  });
  const cfg: StackConfig = { root, dir, topology, token: randomBytes(24).toString('base64url') };
  const plan = stackComponents(cfg);
  const logs = path.join(dir, 'logs');
  fs.mkdirSync(logs);
  const sup = new Supervisor({
    logger: silentLogger,
    output: (name, line) => fs.appendFileSync(path.join(logs, `${name}.log`), line + '\n'),
  });
  const stop = async () => {
    await sup.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const phases = [...new Set(plan.components.map((c) => c.phase ?? 0))].sort((a, b) => a - b);
    for (const phase of phases)
      await Promise.all(plan.components.filter((c) => (c.phase ?? 0) === phase).map((c) => sup.start(c)));
  } catch (err) {
    await stop();
    throw err;
  }
  return { cfg, plan, sup, dir, stop };
}

export interface SippResult {
  successful: number;
  failed: number;
  code: number | null;
  output: string;
}

/** One SIPp process: `calls` participants of `conf` sent to `host` (its SIP address), each playing RTP. */
export async function sipp(o: {
  target: string;
  local: string;
  conf: string;
  calls: number;
  rate?: number;
  pauseMs?: number;
}): Promise<SippResult> {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-e2e-sipp-'));
  try {
    fs.writeFileSync(path.join(cwd, 'uac-rtp.xml'), uacRtpScenario({ pauseMs: o.pauseMs ?? 3000 }));
    const p = spawnProcess(
      'sipp',
      [
        ...['-sf', 'uac-rtp.xml', o.target, '-s', o.conf, '-m', String(o.calls), '-r', String(o.rate ?? 10)],
        ...['-l', String(o.calls), '-i', o.local, '-p', '0', '-mi', o.local, '-mp', '0'],
        ...['-nostdin', '-timeout', '60s', '-timeout_error', '-trace_stat', '-fd', '1'],
      ],
      { cwd },
    );
    const { code } = await p.exited;
    const out = p.output();
    const stat = fs.readdirSync(cwd).find((f) => f.endsWith('_.csv'));
    const row = stat ? statRow(fs.readFileSync(path.join(cwd, stat), 'utf8')) : undefined;
    return {
      successful: row ? Number(row['SuccessfulCall(C)']) : 0,
      failed: row ? Number(row['FailedCall(C)']) : o.calls,
      code,
      output: out.slice(-1500),
    };
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

/** The last row of SIPp's `-trace_stat` CSV, by column name. */
function statRow(csv: string): Record<string, string> {
  const lines = csv.trim().split('\n');
  const head = lines[0]!.split(';');
  const last = lines[lines.length - 1]!.split(';');
  return Object.fromEntries(head.map((h, i) => [h, last[i] ?? '']));
}

export const hostsOf = (s: E2eStack) => popHosts(s.cfg.topology);
