/** The built process: --help, config errors naming the field, --store memory serving the API, graceful SIGTERM. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnProcess, waitFor } from '@switchyard/testing';

const MAIN = path.resolve(import.meta.dirname, '../dist/main.js');

describe('global-scheduler main', () => {
  it('--help documents every flag', async () => {
    const p = spawnProcess(process.execPath, [MAIN, '--help']);
    expect((await p.exited).code).toBe(0);
    for (const flag of [
      '--store',
      '--redis',
      '--token-file',
      '--round-interval-ms',
      '--misses',
      '--fallbacks',
      '--window-ms',
    ])
      expect(p.output()).toContain(flag);
  });

  it('refuses a bad value, naming the field', async () => {
    const p = spawnProcess(process.execPath, [
      MAIN,
      '--store',
      'memory',
      '--token',
      'abcdefgh',
      '--misses',
      '0',
    ]);
    expect((await p.exited).code).toBe(1);
    expect(p.output()).toMatch(/misses/);
    const q = spawnProcess(process.execPath, [MAIN, '--store', 'memory']);
    expect((await q.exited).code).toBe(1);
    expect(q.output()).toMatch(/token/);
  });

  it('--store memory serves the API without Redis and stops on SIGTERM', async () => {
    const p = spawnProcess(
      process.execPath,
      [MAIN, '--store', 'memory', '--port', '0', '--token', 'memory-token-1'],
      {
        env: { ...process.env, LOG_LEVEL: 'warn' },
      },
    );
    const line = await waitFor('ready line', () =>
      p
        .output()
        .split('\n')
        .find((l) => l.includes('"scheduler":"ready"')),
    );
    const url = (JSON.parse(line) as { url: string }).url;
    const post = (headers: Record<string, string>) =>
      fetch(`${url}/v1/conferences`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ id: 'm1', expectedParticipants: 3 }),
      });
    expect((await post({})).status).toBe(401);
    expect((await post({ authorization: 'Bearer memory-token-1' })).status).toBe(201);
    expect(((await (await fetch(`${url}/v1/conferences/m1`)).json()) as { id: string }).id).toBe('m1');
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    p.child.kill('SIGTERM');
    expect((await p.exited).code).toBe(0);
  });
});
