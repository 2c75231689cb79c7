/** The schemas accept the answers the contracts describe and refuse answers of another shape. */
import { describe, expect, it } from 'vitest';
import { Value } from '@sinclair/typebox/value';
import { HostList, ServiceList, SessionList, WorkerList } from '../src/index.js';

describe('tier-api schemas', () => {
  it('accepts a pop-router hosts answer (C3) and refuses an unknown membership state', () => {
    const ok = {
      self: 'h1',
      hosts: [
        {
          id: 'h1',
          address: '127.0.0.1',
          tunnel: '127.0.0.1:4789',
          state: 'alive',
          incarnation: 0,
          draining: false,
          sessions: 2,
        },
      ],
    };
    expect(Value.Check(HostList, ok)).toBe(true);
    expect(Value.Check(HostList, { ...ok, hosts: [{ ...ok.hosts[0], state: 'gone' }] })).toBe(false);
    expect(Value.Check(SessionList, { sessions: [{ id: 'c', owner: 'h1', epoch: 1, version: 3 }] })).toBe(
      true,
    );
  });

  it('accepts a balancer services answer (C4) with a reverse container (no address) and a dispatcher worker list', () => {
    const container = {
      id: 'm1',
      mode: 'reverse',
      address: null,
      capacity: 10,
      reportedLoad: 1,
      inFlight: 0,
      score: 0.1,
      state: 'serving',
      registeredAt: 1,
    };
    expect(Value.Check(ServiceList, { services: [{ service: 'mixer', containers: [container] }] })).toBe(
      true,
    );
    expect(
      Value.Check(ServiceList, {
        services: [{ service: 'mixer', containers: [{ ...container, capacity: '10' }] }],
      }),
    ).toBe(false);
    expect(
      Value.Check(WorkerList, { workers: [{ id: 'w1', pid: 42, status: 'ready', load: 0, state: null }] }),
    ).toBe(true);
  });
});
