import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@switchyard/core';
import { freePort, freeTcpUdpPort, spawnProcess, waitFor } from '@switchyard/testing';
import { Supervisor } from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
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

  it('restarts a component that dies and stops everything by pid', async () => {
    sup = new Supervisor({ logger: silentLogger }, { restartDelayMs: 10 });
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
  });

  it('fails clearly when a component exits while starting', async () => {
    sup = new Supervisor({ logger: silentLogger });
    await expect(
      sup.start({
        name: 'broken',
        command: process.execPath,
        args: ['-e', 'process.exit(3)'],
        ready: async () => false,
      }),
    ).rejects.toThrow(/broken exited while starting/);
  });
});

describe('switchyard-stack', () => {
  it('--help documents every flag', async () => {
    const p = spawnProcess(process.execPath, [main, '--help']);
    await p.exited;
    for (const flag of [
      '--dir',
      '--redis-port',
      '--scheduler-ports',
      '--servers',
      '--sip-listen',
      '--control-port',
      '--smoke',
    ]) {
      expect(p.output()).toContain(flag);
    }
  });

  it('--smoke brings the stack up, places a conference through it, and brings it down', async () => {
    const [redisPort, s1, s2, control] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const sip = await freeTcpUdpPort();
    const dir = path.join(here, '../../../tmp/stack-smoke-' + redisPort);
    const p = spawnProcess(process.execPath, [
      main,
      '--smoke',
      '--redis-port',
      String(redisPort),
      '--scheduler-ports',
      `${s1},${s2}`,
      '--servers',
      '3',
      '--sip-listen',
      `127.0.0.1:${sip}`,
      '--control-port',
      String(control),
      '--dir',
      dir,
    ]);
    const { code } = await p.exited;
    const out = p.output();
    expect(out).toContain('Switchyard stack is up');
    expect(out).toMatch(/smoke: conference smoke-\d+ placed on srv-\d+ \(epoch \d+\)/);
    expect(code).toBe(0);
    expect(out).toContain('smoke: 4 SIPp calls to conference smoke');
    expect(out).toContain('not deployed yet: pop-router (tier 2), container-balancer (tier 4)');
    for (const name of ['redis', 'fleet-sim', 'scheduler-1', 'scheduler-2', 'dispatcher']) {
      expect(out).toMatch(new RegExp(`"component":"${name}".*"msg":"stopped"`));
    }
  }, 60_000);

  it('rejects a bad port naming the field', async () => {
    const p = spawnProcess(process.execPath, [main, '--redis-port', 'x']);
    const { code } = await p.exited;
    expect(code).toBe(2);
    expect(p.output()).toMatch(/redisPort/);
  });
});
