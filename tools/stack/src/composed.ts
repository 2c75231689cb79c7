/**
 * The composed stack started from code (the e2e suite, the end-to-end benchmark): the same components `npm start`
 * runs ({@link stackComponents}), on free ports, the POP hosts on `<prefix>.1–N`, started phase by phase by a
 * {@link Supervisor} the caller controls (so it can kill -9 one component), logs in `<dir>/logs/<name>.log`.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '@switchyard/core';
import { freePort, freePortRange, freeTcpUdpPort } from '@switchyard/launch';
import { stackComponents, type StackConfig, type StackPlan } from './stack.js';
import { Supervisor } from './supervisor.js';
import { parseTopology } from './topology.js';

export interface ComposedStack {
  cfg: StackConfig;
  plan: StackPlan;
  sup: Supervisor;
  dir: string;
  /** Stops every component by pid and removes the state directory. */
  stop(): Promise<void>;
}

/**
 * Starts the whole composed stack, phase by phase; throws (after stopping what started) if any component fails.
 * `addressPrefix`: three octets of 127/8 for the POP hosts (pick a third octet of your own).
 */
export async function startComposedStack(o: {
  root: string;
  hosts: number;
  mixers: number;
  addressPrefix: string;
  workers?: number;
  /**
   * Each component's readiness bound (default 120 s, twice `npm start`'s: e2e suites start this stack while other
   * suites load the machine; at load average ~44 a mixer once took longer than 60 s).
   */
  readyTimeoutMs?: number;
}): Promise<ComposedStack> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-stack-'));
  const prefix = o.addressPrefix;
  const topology = parseTopology({
    redis: { port: await freePort() },
    schedulers: { count: 2, basePort: await freePortRange(2) },
    pop: {
      hosts: o.hosts,
      addressPrefix: prefix,
      sipPort: await freeTcpUdpPort(`${prefix}.1`),
      controlPort: await freePort(`${prefix}.1`),
      routerPort: await freePort(`${prefix}.1`),
      gossipPort: await freeTcpUdpPort(`${prefix}.1`),
      tunnelPort: await freeTcpUdpPort(`${prefix}.1`),
      workers: o.workers ?? 1,
    },
    balancer: {
      port: await freePort(),
      registerPort: await freePort(),
      mixers: o.mixers,
      mixerBasePort: await freePortRange(o.mixers),
    },
    console: { enabled: false },
  });
  const cfg: StackConfig = { root: o.root, dir, topology, token: randomBytes(24).toString('base64url') };
  const built = stackComponents(cfg);
  const plan: StackPlan = {
    ...built,
    components: built.components.map((c) => ({ ...c, readyTimeoutMs: o.readyTimeoutMs ?? 120_000 })),
  };
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
