/** The built process: --help lists every setting with its real default; a missing token is refused; SIGTERM stops it. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '@switchyard/core';
import { spawnProcess, thrownBy, undocumentedCodes, waitFor } from '@switchyard/testing';
import { MixerErrors, MixerSettings, resolveMixerConfig } from '../src/index.js';

const MAIN = path.resolve(import.meta.dirname, '../dist/main.js');

describe('mixer main', () => {
  it('--help lists every setting with its real default and env name', async () => {
    const p = spawnProcess(process.execPath, [MAIN, '--help']);
    expect((await p.exited).code).toBe(0);
    const out = p.output();
    const defaults = MixerSettings.defaults as Record<string, unknown>;
    for (const [field, schema] of Object.entries(MixerSettings.schema.properties)) {
      const s = schema as { env?: string; secret?: boolean };
      const line = out
        .split('\n')
        .find((l) => l.trimStart().startsWith(`${MixerSettings.flagOf(field as never)} `));
      expect(line, field).toBeDefined();
      if (s.env) expect(line).toContain(`env ${s.env}`);
      const d = defaults[field];
      if (!s.secret && d !== '' && d !== undefined) expect(line).toContain(`default ${String(d)}`);
    }
  });

  it('refuses to start without a registration token, and names a bad field', async () => {
    const p = spawnProcess(process.execPath, [MAIN], {
      env: { ...process.env, MIXER_REGISTRATION_TOKEN: '' },
    });
    expect((await p.exited).code).toBe(1);
    expect(p.output()).toMatch(/registrationToken/);
    const q = spawnProcess(process.execPath, [MAIN, '--mode', 'sideways'], {
      env: { ...process.env, MIXER_REGISTRATION_TOKEN: 'abcdefgh' },
    });
    expect((await q.exited).code).toBe(1);
    expect(q.output()).toMatch(/mode/);
  });

  it('names the TLS field at fault: a CA file that is not PEM, a server name without a CA', () => {
    const base = { registrationToken: 'abcdefgh' };
    const cfg = (over: Record<string, unknown>) => () =>
      resolveMixerConfig(MixerSettings.parse({ ...base, ...over }));
    expect(thrownBy(cfg({ balancerCaFile: MAIN }), ConfigError).field).toBe('balancerCaFile');
    expect(thrownBy(cfg({ balancerCaFile: '/nonexistent/ca.pem' }), ConfigError).field).toBe(
      'balancerCaFile',
    );
    expect(thrownBy(cfg({ balancerServerName: 'balancer.test' }), ConfigError).field).toBe(
      'balancerServerName',
    );
    expect(cfg({})().balancerCaValue).toBeUndefined();
  });

  it('serves its API while the balancer is away, and stops on SIGTERM', async () => {
    const p = spawnProcess(
      process.execPath,
      [
        MAIN,
        '--id',
        'solo',
        '--host',
        '127.0.41.3',
        '--rtp-host',
        '127.0.41.3',
        '--balancer',
        '127.0.41.3:9',
      ],
      { env: { ...process.env, LOG_LEVEL: 'warn', MIXER_REGISTRATION_TOKEN: 'abcdefgh' } },
    );
    const line = await waitFor(
      'ready line',
      () =>
        p
          .output()
          .split('\n')
          .find((l) => l.includes('"mixer":"ready"')),
      { timeoutMs: 60_000 },
    );
    const { url } = JSON.parse(line) as { url: string };
    expect(await (await fetch(`${url}/healthz`)).json()).toMatchObject({ status: 'ok', id: 'solo' });
    p.child.kill('SIGTERM');
    expect((await p.exited).code).toBe(0);
  });

  it('documents every error code in the README', () => {
    expect(undocumentedCodes(MixerErrors, path.resolve(import.meta.dirname, '../README.md'))).toEqual([]);
  });
});
