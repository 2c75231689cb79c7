import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ConfigError, silentLogger } from '@switchyard/core';
import {
  freePort,
  freePortRange,
  freeTcpUdpPort,
  spawnProcess,
  stopAllSpawned,
  undocumentedCodes,
  waitFor,
} from '@switchyard/testing';
import {
  StackErrors,
  Supervisor,
  binOf,
  loadTopology,
  parseTopology,
  popHosts,
  stackComponents,
  type SupervisorEvent,
} from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const main = path.resolve(here, '../dist/main.js');
const alive = (pid: number | undefined) => {
  try {
    return pid !== undefined && process.kill(pid, 0);
  } catch {
    return false;
  }
};

describe('Supervisor', () => {
  let sup: Supervisor | undefined;
  afterEach(async () => {
    await sup?.stop();
  });

  it('restarts a component that dies, shows its new pid, and stops everything by pid', async () => {
    const events: SupervisorEvent[] = [];
    sup = new Supervisor({ logger: silentLogger, events: (e) => events.push(e) }, { restartDelayMs: 10 });
    await sup.start({
      name: 'sleeper',
      command: process.execPath,
      args: ['-e', 'setInterval(() => {}, 1000)'],
      ready: async () => true,
    });
    const first = sup.pids()['sleeper'];
    expect(alive(first)).toBe(true);
    process.kill(first!, 'SIGKILL');
    const second = await waitFor('a restarted sleeper', () => {
      const p = sup!.pids()['sleeper'];
      return p !== first && alive(p) ? p : undefined;
    });
    await sup.stop();
    expect(alive(second)).toBe(false);
    expect(events.map((e) => e.type)).toEqual(['starting', 'ready', 'exited', 'restarted', 'stopped']);
    expect(events[3]).toEqual({ type: 'restarted', name: 'sleeper', pid: second });
  });

  it('fails clearly, with the last line the component printed, when it exits while starting', async () => {
    const events: SupervisorEvent[] = [];
    sup = new Supervisor(
      { logger: silentLogger, events: (e) => events.push(e), output: () => undefined },
      { restartDelayMs: 10, maxRestartsPerMinute: 2 },
    );
    await expect(
      sup.start({
        name: 'broken',
        command: process.execPath,
        args: ['-e', 'console.log("no Redis at 127.0.0.1:1"); process.exit(3)'],
        ready: async () => false,
      }),
    ).rejects.toThrow(
      /broken exited while starting, 2 restarts did not help \(code 3: no Redis at 127.0.0.1:1\)/,
    );
    expect(events.at(-1)).toMatchObject({ type: 'failed', name: 'broken' });
    expect(events.filter((e) => e.type === 'restarted')).toHaveLength(2);
  });

  it('SIGKILLs what ignores SIGTERM once the grace period ends', async () => {
    sup = new Supervisor({ logger: silentLogger, output: () => undefined }, { stopGraceMs: 300 });
    const spec = (name: string) => ({
      name,
      command: process.execPath,
      args: ['-e', 'process.on("SIGTERM", () => {}); setInterval(() => {}, 1000); console.log("up")'],
      readyLine: /up/,
    });
    await sup.start(spec('store'));
    await sup.start(spec('stubborn'));
    const pids = Object.values(sup.pids());
    await sup.stop();
    for (const p of pids) expect(alive(p)).toBe(false);
  });
});

describe('topology', () => {
  it('the documented default file is valid and equals the schema defaults', () => {
    const file = loadTopology(path.join(root, 'tools/stack/topology.default.json'));
    expect(file).toEqual(parseTopology({}));
    expect(popHosts(file).map((h) => h.sip)).toEqual(['127.0.1.1:5060', '127.0.1.2:5060', '127.0.1.3:5060']);
    expect(file.schedulers.count).toBe(2);
    expect(file.balancer.mixers).toBe(3);
  });

  it('names the bad field', () => {
    expect(() => parseTopology({ pop: { hosts: 99 } })).toThrow(/pop\.hosts/);
    expect(() => parseTopology({ host: '10.0.0.1' })).toThrow(ConfigError);
    expect(() => parseTopology({ nonsense: 1 })).toThrow(ConfigError);
    expect(() => loadTopology('/nonexistent/topology.json')).toThrow(/topology/);
  });

  it('skips an app that does not exist or is not built, saying so, and never fakes it', () => {
    expect(binOf(root, 'apps/no-such-app')).toEqual({
      reason: 'not built: apps/no-such-app does not exist on this branch',
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-stack-plan-'));
    try {
      const plan = stackComponents({ root, dir, token: 't', topology: parseTopology({}) });
      const names = [...plan.components.map((c) => c.name), ...plan.skipped.map((s) => s.name)];
      for (const n of ['redis', 'scheduler-1', 'scheduler-2', 'dispatcher-1', 'dispatcher-3', 'agent-2'])
        expect(names).toContain(n);
      for (const n of ['pop-router-1', 'balancer', 'mixer-3', 'console']) expect(names).toContain(n);
      for (const s of plan.skipped) {
        expect(s.reason).toMatch(/^not built: /);
        expect(plan.components.map((c) => c.name)).not.toContain(s.name);
      }
      for (const c of plan.components.filter((c) => c.name !== 'redis'))
        expect(c.args[0]).toMatch(/\/dist\/[a-z-]*main\.js$/); // started through the package.json bin
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('switchyard-stack', () => {
  afterAll(stopAllSpawned); // a stack left by a failed test stops everything it started
  it('--help documents every flag with its default', async () => {
    const p = spawnProcess(process.execPath, [main, '--help']);
    await p.exited;
    for (const flag of ['--topology', '--dir', '--smoke']) expect(p.output()).toContain(flag);
    expect(p.output()).toContain('topology.default.json');
  });

  it('--smoke brings the topology up, places a conference on a POP host, calls it with SIPp, and stops', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-stack-smoke-'));
    // hosts on 127.13.<random>.N: unlikely to clash with other engineers' tests
    const prefix = `127.13.${1 + Math.floor(Math.random() * 250)}`;
    const topology = {
      redis: { port: await freePort() },
      schedulers: { count: 2, basePort: await freePortRange(2) },
      pop: {
        hosts: 2,
        addressPrefix: prefix,
        sipPort: await freeTcpUdpPort(`${prefix}.1`),
        controlPort: await freePort(`${prefix}.1`),
        routerPort: await freePort(`${prefix}.1`),
        gossipPort: await freePort(`${prefix}.1`),
        workers: 1,
      },
      balancer: { port: await freePort(), mixers: 0, mixerBasePort: await freePort() },
      console: { enabled: false },
    };
    fs.writeFileSync(path.join(dir, 'topology.json'), JSON.stringify(topology));
    try {
      const p = spawnProcess(process.execPath, [
        main,
        '--smoke',
        '--topology',
        path.join(dir, 'topology.json'),
        '--dir',
        dir,
      ]);
      const { code } = await p.exited;
      const out = p.output();
      expect(out).toContain('Switchyard stack is up');
      expect(out).toMatch(/smoke: conference smoke-\d+ placed on pop1-host[12] \(epoch \d+\)/);
      expect(out).toMatch(
        /smoke: 4 SIPp calls \(with RTP\) to conference smoke-\d+ through .*: all succeeded/,
      );
      for (const name of ['redis', 'scheduler-1', 'scheduler-2', 'dispatcher-1', 'agent-2']) {
        expect(out).toMatch(new RegExp(`\\[stack\\] ready +${name} +pid \\d+`));
        expect(out).toMatch(new RegExp(`\\[stack\\] stopped +${name} +pid \\d+`));
      }
      expect(code).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it('rejects a bad topology naming the field', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-stack-bad-'));
    try {
      fs.writeFileSync(path.join(dir, 't.json'), JSON.stringify({ redis: { port: 'x' } }));
      const p = spawnProcess(process.execPath, [main, '--topology', path.join(dir, 't.json'), '--dir', dir]);
      const { code } = await p.exited;
      expect(code).toBe(2);
      expect(p.output()).toMatch(/redis\.port/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('errors', () => {
  it('documents every error code in the README', () => {
    expect(undocumentedCodes(StackErrors, path.join(here, '../README.md'))).toEqual([]);
  });
});
