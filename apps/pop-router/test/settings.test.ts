import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '@switchyard/core';
import { thrownBy } from '@switchyard/testing';
import { describe, expect, it } from 'vitest';
import { loadKeyringFile, PopRouterError, PopRouterSettings, resolveToken } from '../src/index.js';
import { tempDir } from './helpers.js';

describe('settings', () => {
  it('--help lists every setting with its real default and env name, never the token', () => {
    const r = PopRouterSettings.load(['--help'], {});
    if (!r.help) throw new Error('expected help');
    const d = PopRouterSettings.defaults as Record<string, unknown>;
    for (const [field, schema] of Object.entries(PopRouterSettings.schema.properties)) {
      const flag = PopRouterSettings.flagOf(field as never);
      expect(r.text).toContain(flag);
      const env = (schema as { env?: string }).env;
      if (env) expect(r.text).toContain(env);
      const v = d[field];
      if (field !== 'token' && typeof v !== 'boolean' && v !== '' && !(Array.isArray(v) && !v.length))
        expect(r.text, `${flag} default`).toContain(String(v));
    }
    expect(r.text).not.toMatch(/test-token/);
  });

  it('the built binary prints the same --help', () => {
    const main = path.join(import.meta.dirname, '../dist/main.js');
    const out = spawnSync(process.execPath, [main, '--help'], { encoding: 'utf8' });
    expect(out.status).toBe(0);
    expect(out.stdout).toContain('--keyring-file');
    expect(out.stdout).toContain('4790');
  });

  it('flags over env over defaults; a bad value names its field', () => {
    const r = PopRouterSettings.load(['--id', 'h9', '--seeds', '127.0.3.2:7000'], {
      POPR_TUNNEL_PORT: '5000',
    });
    if (r.help) throw new Error('no help expected');
    expect(r.config).toMatchObject({
      id: 'h9',
      tunnelPort: 5000,
      encapsulation: 'udp',
      seeds: ['127.0.3.2:7000'],
    });
    expect(Object.isFrozen(r.config)).toBe(true);
    expect(thrownBy(() => PopRouterSettings.load(['--address', '300.1.1.1'], {}), ConfigError).field).toBe(
      'address',
    );
    expect(thrownBy(() => PopRouterSettings.load(['--encapsulation', 'gre'], {}), ConfigError).field).toBe(
      'encapsulation',
    );
  });

  it('keyring file and token: missing or malformed → typed errors', () => {
    const dir = tempDir();
    const f = path.join(dir, 'k.json');
    expect(thrownBy(() => loadKeyringFile(''), PopRouterError).code).toBe('POP_ERR_KEYRING');
    expect(thrownBy(() => loadKeyringFile(f), PopRouterError).code).toBe('POP_ERR_KEYRING');
    fs.writeFileSync(f, JSON.stringify({ primary: 1, keys: [{ id: 1, secret: 'short' }] }));
    expect(thrownBy(() => loadKeyringFile(f), PopRouterError).code).toBe('POP_ERR_KEYRING');
    fs.writeFileSync(f, JSON.stringify({ primary: 1, keys: [{ id: 1, secret: 'long-enough-secret-123' }] }));
    expect(loadKeyringFile(f).tunnelKeys.primary).toBe(1);
    expect(thrownBy(() => resolveToken('', ''), PopRouterError).code).toBe('POP_ERR_CONFIG');
    fs.writeFileSync(path.join(dir, 't'), 'tok-from-file\n');
    expect(resolveToken('', path.join(dir, 't'))).toBe('tok-from-file');
    fs.rmSync(dir, { recursive: true });
  });
});
