/** The built process: --help, config errors naming the field, --store memory serving the API, graceful SIGTERM. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnProcess, waitFor } from '@switchyard/testing';
import { loadConfig } from '../src/config.js';
import { SchedulerProcessSettings } from '../src/settings.js';

const MAIN = path.resolve(import.meta.dirname, '../dist/main.js');

describe('global-scheduler main', () => {
  it('--help lists every setting with its real default and env name', { timeout: 90_000 }, async () => {
    const p = spawnProcess(process.execPath, [MAIN, '--help']);
    expect((await p.exited).code).toBe(0);
    const lines = p.output().split('\n');
    const fields = Object.entries(SchedulerProcessSettings.schema.properties);
    expect(fields.length).toBeGreaterThan(30);
    for (const [field, schema] of fields) {
      const flag = SchedulerProcessSettings.flagOf(field as never);
      const line = lines.find((l) => l.trimStart().startsWith(`${flag} `) || l.trim() === flag);
      expect(line, `${flag} in --help`).toBeDefined();
      const s = schema as { default?: unknown; env?: string; secret?: boolean; type?: string };
      if (s.env) expect(line).toContain(`env ${s.env}`);
      const d = s.default;
      if (s.secret || d === '' || typeof d === 'boolean' || (Array.isArray(d) && d.length === 0)) continue;
      // the id default names this process's pid: the spawned one has another
      if (field === 'id') expect(line).toMatch(/default sched-.+-[0-9]+/);
      else expect(line, flag).toContain(`default ${String(d)}`);
    }
    // the real defaults, not copies: a few spelled out
    expect(lines.find((l) => l.includes('--round-interval-ms'))).toContain('default 1000');
    expect(lines.find((l) => l.includes('--sweep-batch'))).toContain('default 500');
    expect(lines.find((l) => l.includes('--default-duration-s'))).toContain('default 3600');
  });

  it('flags > env > defaults; sweepBatch and defaultDurationS are configurable', () => {
    const r = loadConfig(['--token', 'abcdefgh', '--sweep-batch', '7'], {
      SCHEDULER_DEFAULT_DURATION_S: '60',
    });
    expect(r.help).toBe(false);
    if (r.help) return;
    expect(r.config).toMatchObject({ sweepBatch: 7, defaultDurationS: 60, roundIntervalMs: 1000 });
    expect(Object.isFrozen(r.config)).toBe(true);
    expect(() => loadConfig(['--token', 'abcdefgh', '--backoff-ms', '0'], {})).toThrow(/backoffMs/);
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
    const q = spawnProcess(process.execPath, [MAIN, '--store', 'memory']);
    expect((await p.exited).code).toBe(1);
    expect(p.output()).toMatch(/misses/);
    expect((await q.exited).code).toBe(1);
    expect(q.output()).toMatch(/token/);
  }, 90_000); // two node processes starting on a shared, loaded machine

  it('--store memory serves the API without Redis and stops on SIGTERM', { timeout: 90_000 }, async () => {
    const p = spawnProcess(
      process.execPath,
      [MAIN, '--store', 'memory', '--port', '0', '--token', 'memory-token-1'],
      {
        env: { ...process.env, LOG_LEVEL: 'warn' },
      },
    );
    const line = await waitFor(
      'ready line',
      () =>
        p
          .output()
          .split('\n')
          .find((l) => l.includes('"scheduler":"ready"')),
      { timeoutMs: 30_000 },
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
