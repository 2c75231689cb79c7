import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { HEADER_BYTES, MAC_BYTES } from '../src/index.js';
import { codec, KEYRING, makeState } from './helpers.js';
import { SAMPLES } from './codec.test.js';

const NOW = 1_700_000_000_000;
const KEY = Buffer.from(KEYRING.keys[0]!.secret);

/** Re-signs `bytes` so mutations reach the body decoder instead of stopping at the MAC (an insider's view). */
function resign(bytes: Uint8Array): Buffer {
  const b = Buffer.from(bytes);
  if (b.length < HEADER_BYTES + MAC_BYTES) return b;
  b[0] = 1;
  b[2] = 1;
  b.writeUIntBE(NOW, 3, 6);
  createHmac('sha256', KEY)
    .update(b.subarray(0, b.length - MAC_BYTES))
    .digest()
    .copy(b, b.length - MAC_BYTES);
  return b;
}

describe('decoder fuzzing (never throws, never corrupts)', () => {
  const c = codec();
  const valid = SAMPLES.map((m) => c.encode(m, NOW));

  it('random bytes are dropped with a reason', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 2000 }), (bytes) => {
        const r = c.decode(bytes, NOW);
        expect(r.ok).toBe(false);
      }),
      { numRuns: 2000, seed: 1 },
    );
  });

  it('mutated valid datagrams, re-signed, decode to a valid message or a drop, and the state machine survives them', () => {
    const state = makeState('a');
    state.start(NOW);
    let accepted = 0;
    fc.assert(
      fc.property(
        fc.constantFrom(...valid),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: -20, max: 20 }),
        (base, edits, resize) => {
          let b = Buffer.from(base);
          for (const [at, v] of edits)
            b[HEADER_BYTES + (at % Math.max(1, b.length - HEADER_BYTES - MAC_BYTES))] = v;
          if (resize > 0)
            b = Buffer.concat([
              b.subarray(0, b.length - MAC_BYTES),
              Buffer.alloc(resize, resize),
              b.subarray(b.length - MAC_BYTES),
            ]);
          if (resize < 0)
            b = Buffer.concat([
              b.subarray(0, Math.max(0, b.length - MAC_BYTES + resize)),
              b.subarray(b.length - MAC_BYTES),
            ]);
          const r = c.decode(resign(b), NOW);
          if (r.ok) {
            accepted++;
            expect(() => state.handle(r.msg, '10.0.0.1:1', NOW)).not.toThrow();
          }
        },
      ),
      { numRuns: 3000, seed: 2 },
    );
    // some mutations stay valid (e.g. a changed id): they were applied without harm
    expect(accepted).toBeGreaterThan(0);
    expect(() => state.tick(NOW + 5000)).not.toThrow();
  });

  it('arbitrary msgpack bodies, signed, never throw out of decode', () => {
    const packr = new Packr({ useRecords: false });
    const header = Buffer.from([1, 0, 1, 0, 0, 0, 0, 0, 0]);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.anything({ maxDepth: 4 }), (type, value) => {
        let body: Buffer;
        try {
          body = packr.pack(value);
        } catch {
          return;
        }
        header[1] = type;
        const r = c.decode(resign(Buffer.concat([header, body, Buffer.alloc(MAC_BYTES)])), NOW);
        if (r.ok) expect(r.msg.type).toBe(type);
      }),
      { numRuns: 3000, seed: 3 },
    );
  });
});
