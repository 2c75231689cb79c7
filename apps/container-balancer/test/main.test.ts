/** The built process: --help lists every setting with its real default; bad config names the field; SIGTERM stops it. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnProcess, undocumentedCodes, waitFor } from '@switchyard/testing';
import { BalancerErrors, BalancerSettings } from '../src/index.js';

const MAIN = path.resolve(import.meta.dirname, '../dist/main.js');

describe('container-balancer main', () => {
  it('--help lists every setting with its real default and env name', async () => {
    const p = spawnProcess(process.execPath, [MAIN, '--help']);
    expect((await p.exited).code).toBe(0);
    const out = p.output();
    const defaults = BalancerSettings.defaults as Record<string, unknown>;
    for (const [field, schema] of Object.entries(BalancerSettings.schema.properties)) {
      const s = schema as { env?: string; secret?: boolean };
      const line = out
        .split('\n')
        .find((l) => l.trimStart().startsWith(`${BalancerSettings.flagOf(field as never)} `));
      expect(line, field).toBeDefined();
      if (s.env) expect(line).toContain(`env ${s.env}`);
      const d = defaults[field];
      if (!s.secret && d !== '' && d !== undefined) expect(line).toContain(`default ${String(d)}`);
    }
  });

  it('refuses to start without a registration token, and names a bad field', async () => {
    const p = spawnProcess(process.execPath, [MAIN, '--port', '0', '--register-port', '0'], {
      env: { ...process.env, BALANCER_REGISTRATION_TOKEN: '' },
    });
    expect((await p.exited).code).toBe(1);
    expect(p.output()).toMatch(/registrationToken/);
    const q = spawnProcess(process.execPath, [MAIN, '--retries', '99'], {
      env: { ...process.env, BALANCER_REGISTRATION_TOKEN: 'abcdefgh1' },
    });
    expect((await q.exited).code).toBe(1);
    expect(q.output()).toMatch(/retries/);
  });

  it('serves /healthz and stops on SIGTERM', async () => {
    const p = spawnProcess(
      process.execPath,
      [MAIN, '--host', '127.0.41.2', '--port', '0', '--register-host', '127.0.41.2', '--register-port', '0'],
      { env: { ...process.env, LOG_LEVEL: 'warn', BALANCER_REGISTRATION_TOKEN: 'abcdefgh1' } },
    );
    const line = await waitFor(
      'ready line',
      () =>
        p
          .output()
          .split('\n')
          .find((l) => l.includes('"balancer":"ready"')),
      { timeoutMs: 60_000 },
    );
    const { url } = JSON.parse(line) as { url: string };
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    // without an API token, changes are refused
    expect((await fetch(`${url}/v1/containers/x/drain`, { method: 'POST' })).status).toBe(401);
    p.child.kill('SIGTERM');
    expect((await p.exited).code).toBe(0);
  });

  it('documents every error code in the README', () => {
    expect(undocumentedCodes(BalancerErrors, path.resolve(import.meta.dirname, '../README.md'))).toEqual([]);
  });
});
