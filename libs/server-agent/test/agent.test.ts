import { describe, expect, it } from 'vitest';
import { ManualClock } from '@switchyard/core';
import { MemoryRegistryStore, type FeedEvent } from '@switchyard/registry';
import { undocumentedCodes } from '@switchyard/testing';
import { AgentErrors, ServerAgent, ServerAgentTestProfile } from '../src/index.js';

async function setup() {
  const clock = new ManualClock();
  const store = new MemoryRegistryStore({ clock });
  await store.start();
  const agent = new ServerAgent({ store, clock }, ServerAgentTestProfile);
  return { clock, store, agent };
}

const opts = { id: 'srv-1', address: '127.0.0.1:5060', region: 'eu', capacity: 100, probePort: 0 };

describe('ServerAgent', () => {
  it('registers with its probe URL, answers /healthz over a real socket, deregisters at stop', async () => {
    const { store, agent } = await setup();
    await agent.start(opts);
    const rec = await store.get('conference-server', 'srv-1');
    expect(rec).toMatchObject({
      address: '127.0.0.1:5060',
      region: 'eu',
      capacity: 100,
      load: 0,
      state: 'serving',
    });
    expect(rec!.meta['probe']).toBe(agent.probeUrl);
    const res = await fetch(agent.probeUrl!);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: 'srv-1', ok: true, load: 0 });
    agent.setHealthy(false);
    expect((await fetch(agent.probeUrl!)).status).toBe(503);
    const url = agent.probeUrl!;
    await agent.stop();
    expect(await store.get('conference-server', 'srv-1')).toBeUndefined();
    await expect(fetch(url)).rejects.toThrow();
    await store.stop();
  });

  it("probe 'sip' (contract C1): registers meta.probe = 'sip' and serves no HTTP endpoint", async () => {
    const { store, agent } = await setup();
    await agent.start({ id: 'srv-sip', address: '127.0.0.1:5062', region: 'eu', capacity: 10, probe: 'sip' });
    const rec = await store.get('conference-server', 'srv-sip');
    expect(rec?.meta).toEqual({ probe: 'sip' });
    expect(agent.probeUrl).toBeUndefined();
    await agent.stop();
    expect(await store.get('conference-server', 'srv-sip')).toBeUndefined();
    await store.stop();
  });

  it('publishes a load change at once, and keeps the record alive by heartbeat', async () => {
    const { clock, store, agent } = await setup();
    await agent.start(opts);
    const watch = store.watch('conference-server');
    const it = watch[Symbol.asyncIterator]();
    const first = (await it.next()).value as FeedEvent;
    expect(first.type).toBe('snapshot');
    await agent.setLoad(42);
    const next = (await it.next()).value as FeedEvent;
    expect(next).toMatchObject({ type: 'updated', record: { id: 'srv-1', load: 42 } });
    await clock.advanceAsync(ServerAgentTestProfile.ttlMs * 5);
    expect((await store.get('conference-server', 'srv-1'))?.load).toBe(42);
    watch.close();
    await agent.stop();
    await store.stop();
  });

  it("keeps an operator's drain when its lease lapses and it registers again", async () => {
    const { clock, store, agent } = await setup();
    await agent.start(opts);
    await agent.setLoad(7);
    // the scheduler's drain endpoint sets the state on the registry record, not through the agent
    await store.update('conference-server', 'srv-1', { state: 'draining' });
    await clock.advanceAsync(ServerAgentTestProfile.heartbeatMs); // the renewal shows the agent the new state
    expect(agent.record?.state).toBe('draining');
    await store.remove('conference-server', 'srv-1'); // the lease lapsed (e.g. a stall longer than the TTL)
    await clock.advanceAsync(ServerAgentTestProfile.heartbeatMs); // the next heartbeat registers again
    expect(await store.get('conference-server', 'srv-1')).toMatchObject({ state: 'draining', load: 7 });
    // a lapse during a load publish (update finds no record) re-registers the same way
    await store.remove('conference-server', 'srv-1');
    await agent.setLoad(8);
    expect(await store.get('conference-server', 'srv-1')).toMatchObject({ state: 'draining', load: 8 });
    await agent.stop();
    await store.stop();
  });

  it('rejects bad options and a second start with typed errors', async () => {
    const { store, agent } = await setup();
    await expect(agent.start({ ...opts, capacity: -1 })).rejects.toMatchObject({ code: 'AGENT_ERR_CONFIG' });
    await agent.start(opts);
    await expect(agent.start(opts)).rejects.toMatchObject({ code: 'AGENT_ERR_STATE' });
    await expect(agent.setLoad(Number.NaN)).rejects.toMatchObject({ code: 'AGENT_ERR_CONFIG' });
    expect(
      () => new ServerAgent({ store, clock: new ManualClock() }, { ttlMs: 100, heartbeatMs: 100 }),
    ).toThrow(/heartbeatMs/);
    await agent.stop();
    await store.stop();
  });

  it('documents every error code in the README', () => {
    expect(undocumentedCodes(AgentErrors, new URL('../README.md', import.meta.url).pathname)).toEqual([]);
  });
});
