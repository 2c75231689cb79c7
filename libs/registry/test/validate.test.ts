/** The meta size check: a cheap bound skips the exact encoding only where it cannot be over the limit. */
import { describe, expect, it } from 'vitest';
import { hasCode } from '@switchyard/core';
import { normalizeInput, DEFAULT_LIMITS } from '../src/validate.js';

const input = (meta: Record<string, string>) => ({
  id: 'a',
  service: 's',
  address: 'h:1',
  ttlMs: 1000,
  meta,
});
const limits = { ...DEFAULT_LIMITS, maxMetaBytes: 100 };
const tooLarge = (meta: Record<string, string>) => {
  try {
    normalizeInput(input(meta), limits);
    return false;
  } catch (err) {
    if (hasCode(err, 'REG_ERR_META_TOO_LARGE')) return true;
    throw err;
  }
};

describe('meta size limit', () => {
  it('accepts small meta below the bound (the feed path) and keeps every entry', () => {
    const meta = { serverId: 'srv-1', epoch: '3', moves: '0' };
    expect(normalizeInput(input(meta), DEFAULT_LIMITS).body.meta).toEqual(meta);
    expect(tooLarge({ k: 'v' })).toBe(false);
  });

  it('counts encoded bytes exactly above the bound: multi-byte and escaped characters', () => {
    // {"k":"…"} is 8 bytes + the value: the limit of 100 allows a value of 92 bytes
    expect(tooLarge({ k: 'x'.repeat(92) })).toBe(false);
    expect(tooLarge({ k: 'x'.repeat(93) })).toBe(true);
    // '€' is 3 bytes in UTF-8: 30 fit (90 bytes), 31 do not (93)
    expect(tooLarge({ k: '€'.repeat(30) })).toBe(false);
    expect(tooLarge({ k: '€'.repeat(31) })).toBe(true);
    // a control character is written as \u0001 (6 bytes): 15 fit (90), 16 do not (96)
    expect(tooLarge({ k: '\u0001'.repeat(15) })).toBe(false);
    expect(tooLarge({ k: '\u0001'.repeat(16) })).toBe(true);
  });
});
