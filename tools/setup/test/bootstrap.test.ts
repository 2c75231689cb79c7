import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { spawnProcess } from '@switchyard/testing';

const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bootstrap.mjs');

describe('bootstrap', () => {
  it('--check reports the test set-up as complete on this machine', async () => {
    const p = spawnProcess(process.execPath, [script, '--for', 'test', '--check']);
    const { code } = await p.exited;
    expect(p.output()).toContain('present');
    expect(code).toBe(0);
  });

  it('rejects an unknown purpose', async () => {
    const p = spawnProcess(process.execPath, [script, '--for', 'nonsense', '--check']);
    const { code } = await p.exited;
    expect(code).toBe(2);
    expect(p.output()).toMatch(/unknown purpose "nonsense"/);
  });
});
