import { ManualClock } from '@switchyard/core';
import { describe, expect, it } from 'vitest';
import { MemoryNetwork, seededRandom, UdpUnicastTransport } from '../src/index.js';
import { waitFor } from '@switchyard/testing';
import { transportCompliance } from '../src/compliance/index.js';

for (const multicast of [false, true]) {
  transportCompliance(`memory (multicast ${multicast})`, async () => {
    const clock = new ManualClock();
    const net = new MemoryNetwork({ clock, random: seededRandom(1) }, { multicast });
    const a = net.createTransport('a:1');
    const b = net.createTransport('b:1');
    const until = async (what: string, done: () => boolean) => {
      for (let i = 0; i < 100 && !done(); i++) clock.advance(10);
      if (!done()) throw new Error(`not delivered: ${what}`);
    };
    return { a, b, until, cleanup: async () => Promise.all([a.stop(), b.stop()]).then(() => undefined) };
  });
}

transportCompliance('UDP unicast on 127.0.1.x', async () => {
  const a = new UdpUnicastTransport({}, { host: '127.0.1.1', port: 0 });
  const b = new UdpUnicastTransport({}, { host: '127.0.1.2', port: 0 });
  return {
    a,
    b,
    // real I/O: poll (bounded) until the loopback datagram is in
    until: async (what: string, done: () => boolean) => {
      await waitFor(what, done, { timeoutMs: 5000, intervalMs: 5 });
    },
    cleanup: async () => Promise.all([a.stop(), b.stop()]).then(() => undefined),
  };
});

describe('MemoryNetwork conditions', () => {
  const make = (link: object) => {
    const clock = new ManualClock();
    const net = new MemoryNetwork({ clock, random: seededRandom(3) }, { link });
    const got: string[] = [];
    const a = net.createTransport('a');
    const b = net.createTransport('b');
    void a.start(() => undefined);
    void b.start((bytes) => got.push(Buffer.from(bytes).toString()));
    return { clock, net, a, b, got };
  };

  it('loss and duplication happen at the configured rates, reproducibly', () => {
    const run = () => {
      const { clock, net, a, got } = make({ loss: 0.2, duplicate: 0.1 });
      for (let i = 0; i < 2000; i++) a.send('b', Buffer.from(String(i)));
      clock.advance(1000);
      return { got: got.length, stats: { ...net.stats } };
    };
    const r = run();
    expect(r.stats.lost / 2000).toBeGreaterThan(0.17);
    expect(r.stats.lost / 2000).toBeLessThan(0.23);
    expect(r.stats.duplicated).toBeGreaterThan(100);
    expect(r.got).toBe(2000 - r.stats.lost + r.stats.duplicated);
    expect(run()).toEqual(r);
  });

  it('delay is driven by the clock; jitter reorders', () => {
    const { clock, a, got } = make({ delayMs: 10, jitterMs: 50 });
    for (let i = 0; i < 50; i++) a.send('b', Buffer.from(String(i)));
    clock.advance(9);
    expect(got).toEqual([]);
    clock.advance(60);
    expect(got).toHaveLength(50);
    expect(got).not.toEqual([...got].sort((x, y) => Number(x) - Number(y)));
  });

  it('a partition drops traffic between groups until healed; per-link conditions apply one way', () => {
    const { clock, net, a, b, got } = make({});
    net.partition([['a'], ['b']]);
    a.send('b', Buffer.from('cut'));
    clock.advance(10);
    expect(got).toEqual([]);
    expect(net.stats.partitioned).toBe(1);
    net.heal();
    net.setLink('a', 'b', { loss: 1 });
    a.send('b', Buffer.from('lost'));
    clock.advance(10);
    expect(got).toEqual([]);
    net.setLink('a', 'b', { loss: 0 });
    a.send('b', Buffer.from('ok'));
    clock.advance(10);
    expect(got).toEqual(['ok']);
    void b;
  });
});
