/** One suite, run against every Transport implementation (memory, UDP unicast, UDP multicast in namespaces). */
import { describe, expect, it } from 'vitest';
import type { Transport } from '../index.js';

export interface TransportPair {
  a: Transport;
  b: Transport;
  /** Lets deliveries happen until `done()` (bounded): advance a manual clock, or poll real I/O with waitFor. */
  until(what: string, done: () => boolean): Promise<void>;
  cleanup(): Promise<void>;
}

export function transportCompliance(name: string, make: () => Promise<TransportPair>): void {
  describe(`Transport compliance: ${name}`, () => {
    it('delivers a datagram with the sender address, byte for byte', async () => {
      const p = await make();
      try {
        const got: [Uint8Array, string][] = [];
        await p.a.start(() => undefined);
        await p.b.start((bytes, from) => got.push([Buffer.from(bytes), from]));
        const payload = Buffer.from([1, 2, 3, 250, 0, 7]);
        p.a.send(p.b.localAddress, payload);
        await p.until('one datagram', () => got.length > 0);
        expect(got).toHaveLength(1);
        expect(Buffer.compare(Buffer.from(got[0]![0]), payload)).toBe(0);
        expect(got[0]![1]).toBe(p.a.localAddress);
      } finally {
        await p.cleanup();
      }
    });

    it('broadcast reaches the others when multicast is offered; otherwise it is refused or unused', async () => {
      const p = await make();
      try {
        const got: string[] = [];
        await p.a.start(() => undefined);
        await p.b.start((_bytes, from) => got.push(from));
        if (p.a.multicast) {
          p.a.broadcast(Buffer.from('hello'));
          await p.until('the multicast datagram', () => got.length > 0);
          expect(got).toEqual([p.a.localAddress]);
        } else {
          // unicast transports refuse: the node fans out itself
          expect(() => p.a.broadcast(Buffer.from('x'))).toThrow(/broadcast/);
        }
      } finally {
        await p.cleanup();
      }
    });

    it('a malformed destination or a send after stop does not throw; stop is idempotent', async () => {
      const p = await make();
      try {
        await p.a.start(() => undefined);
        await p.b.start(() => undefined);
        expect(() => p.a.send('not an address', Buffer.from('x'))).not.toThrow();
        await p.a.stop();
        await p.a.stop();
        expect(() => p.a.send(p.b.localAddress, Buffer.from('x'))).not.toThrow();
      } finally {
        await p.cleanup();
      }
    });
  });
}
