/**
 * Keep-alive by SIP OPTIONS (contract C1) against a real SIP stack: SIPp (`sipp -sf options-uas.xml`) answers
 * OPTIONS on a loopback UDP port. A server registered by the server agent with `probe: 'sip'` is probed at its
 * SIP address; when SIPp is killed the server goes down after `misses` probes and its conferences move; when it
 * answers again it serves again. Probe timeouts run on a ManualClock.
 */
import path from 'node:path';
import os from 'node:os';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushEventLoop, ManualClock, systemClock } from '@switchyard/core';
import { MemoryRegistryStore } from '@switchyard/registry';
import { ServerAgent, ServerAgentTestProfile } from '@switchyard/server-agent';
import { freeTcpUdpPort, spawnProcess, waitFor, type Spawned } from '@switchyard/testing';
import { Scheduler } from '../src/scheduler.js';
import { conference } from './requests.js';
import { SchedulerTestProfile } from '../src/settings.js';
import { SipOptionsProbe } from '../src/keepalive/sip-options-probe.js';
import { MemoryScheduleStore } from '../src/store/memory-schedule-store.js';

const SCENARIO = path.resolve(import.meta.dirname, 'fixtures/options-uas.xml');
// a loopback address of this project's own (127.0.12.x), varied per run so parallel runs do not meet
const HOST = `127.0.12.${2 + (process.pid % 250)}`;
let port: number;
let sipp: Spawned | undefined;
let dir: string;

async function startSipp(): Promise<void> {
  sipp = spawnProcess('sipp', ['-sf', SCENARIO, '-i', HOST, '-p', String(port), '-nostdin', '-trace_err'], {
    cwd: dir,
  });
  // ready when it answers: bounded polling with a real-clock probe (this waits, it asserts no duration)
  const ready = new SipOptionsProbe({ clock: systemClock }, { host: '127.0.0.1' });
  await ready.start();
  try {
    await waitFor(
      `SIPp answering OPTIONS on ${HOST}:${port}`,
      async () => (await ready.probe(`${HOST}:${port}`, 200)) || undefined,
      {
        timeoutMs: 15_000,
        intervalMs: 50,
      },
    );
  } finally {
    await ready.stop();
  }
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-sched-sipp-'));
  port = await freeTcpUdpPort(HOST);
  await startSipp();
});
afterAll(async () => {
  await sipp?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('SIP OPTIONS keep-alive', () => {
  it('any SIP response within the timeout is alive; silence is not', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const probe = new SipOptionsProbe({ clock }, { host: '127.0.0.1' });
    await probe.start();
    expect(await probe.probe(`${HOST}:${port}`, 500)).toBe(true);
    // a UDP port where nothing answers: false once the (manual) timeout passes
    const silent = probe.probe(`${HOST}:${port + 1 === 65536 ? 1 : port + 1}`, 500);
    await clock.advanceAsync(499);
    expect(probe.inFlight).toBe(1);
    await clock.advanceAsync(1);
    expect(await silent).toBe(false);
    expect(await probe.probe('not-an-address', 500)).toBe(false);
    await probe.stop();
  });

  it("a server agent registered with probe 'sip' is kept alive by OPTIONS; dead SIP → down and moved; back → serving", async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const registry = new MemoryRegistryStore({ clock });
    await registry.start();
    const store = new MemoryScheduleStore();
    const scheduler = new Scheduler(
      { store, registry, clock },
      { ...SchedulerTestProfile, id: 'sip-sched', address: '127.0.0.1:1', timers: false },
    );
    await scheduler.start();
    const sipAgent = new ServerAgent({ store: registry, clock }, ServerAgentTestProfile);
    await sipAgent.start({
      id: 'sip-srv',
      address: `${HOST}:${port}`,
      region: 'eu',
      capacity: 10,
      probe: 'sip',
    });
    const other = new ServerAgent({ store: registry, clock }, ServerAgentTestProfile);
    await other.start({ id: 'http-srv', address: '127.0.0.1:9', region: 'eu', capacity: 10, probePort: 0 });
    await flushEventLoop();
    for (let i = 0; i < 6; i++) await store.create(conference(`c${i}`, clock.now()));
    await clock.advanceAsync(SchedulerTestProfile.roundIntervalMs);
    await scheduler.runRound();
    const onSip = await store.conferencesOn('sip-srv');
    expect(onSip.length).toBe(3);
    const count = async (result: 'ok' | 'fail') =>
      (await scheduler.metrics.probes.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
    // one probe pass; real answers arrive on real sockets, so the (manual) timeout is advanced only once every
    // server that will answer has answered: `expectOk` of them
    const probePass = async (expectOk: number) => {
      const okBefore = await count('ok');
      const p = scheduler.probeOnce();
      await waitFor(
        'live servers to answer the probe',
        async () => (await count('ok')) >= okBefore + expectOk,
      );
      await clock.advanceAsync(SchedulerTestProfile.probeTimeoutMs);
      await p;
    };
    await probePass(2); // one SIP, one HTTP
    expect(await store.downServers()).toEqual([]);
    expect(await count('fail')).toBe(0);

    await sipp!.kill9();
    for (let i = 0; i < SchedulerTestProfile.misses; i++) await probePass(1);
    expect(await store.downServers()).toEqual(['sip-srv']);
    expect((await registry.get('conference-server', 'sip-srv'))?.state).toBe('down');
    await clock.advanceAsync(SchedulerTestProfile.roundIntervalMs);
    await scheduler.runRound();
    expect(await store.conferencesOn('sip-srv')).toEqual([]);
    expect((await store.conferencesOn('http-srv')).length).toBe(6);

    await startSipp();
    await probePass(2);
    expect(await store.downServers()).toEqual([]);
    expect((await registry.get('conference-server', 'sip-srv'))?.state).toBe('serving');
    await sipAgent.stop();
    await other.stop();
    await scheduler.stop();
    await registry.stop();
  });
});
