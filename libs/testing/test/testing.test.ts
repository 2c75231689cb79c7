import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startRedis, thrownBy, undocumentedCodes } from '../src/index.js';

describe('startRedis', () => {
  it('is a private redis-server on a free loopback port, stopped by pid', async () => {
    const redis = await startRedis();
    try {
      expect(redis.host).toBe('127.0.0.1');
      expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
      expect(redis.pid).toBeGreaterThan(0);
    } finally {
      await redis.stop();
    }
  });
});

describe('undocumentedCodes', () => {
  it('lists the codes a README does not mention', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-readme-'));
    try {
      const readme = path.join(dir, 'README.md');
      fs.writeFileSync(readme, '| `X_ERR_KNOWN` | documented |\n| X_ERR_BARE | not in backticks |\n');
      expect(undocumentedCodes({ X_ERR_KNOWN: 1, X_ERR_BARE: 2, X_ERR_MISSING: 3 }, readme)).toEqual([
        'X_ERR_BARE',
        'X_ERR_MISSING',
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('thrownBy', () => {
  class BadThing extends Error {
    readonly field = 'x';
  }
  it('returns the thrown error of the given class', () => {
    expect(
      thrownBy(() => {
        throw new BadThing('no');
      }, BadThing).field,
    ).toBe('x');
  });
  it('fails when nothing or something else is thrown', () => {
    expect(() => thrownBy(() => 1, BadThing)).toThrow(/expected BadThing to be thrown/);
    expect(() =>
      thrownBy(() => {
        throw new TypeError('other');
      }, BadThing),
    ).toThrow(TypeError);
  });
});
