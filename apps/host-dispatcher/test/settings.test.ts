/** The dispatcher's settings are declared once; `--help` of the real binary lists each with its real default. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '@switchyard/core';
import { DISPATCHER_DEFAULTS, DispatcherSettings, loadDispatcherConfig } from '../src/index.js';
import { DISPATCHER_MAIN } from './harness.js';

const kebab = (f: string) => f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

describe('dispatcher settings', () => {
  it('--help of the built binary lists every setting with its env name and real default', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [DISPATCHER_MAIN, '--help']);
    const fields = Object.entries(DispatcherSettings.schema.properties);
    expect(fields.length).toBeGreaterThan(15);
    for (const [field, schema] of fields) {
      const s = schema as { env?: string; secret?: boolean; default?: unknown };
      const line = stdout.split('\n').find((l) => l.trimStart().startsWith(`--${kebab(field)} `));
      expect(line, `--${kebab(field)} in --help`).toBeDefined();
      if (s.env) expect(line).toContain(`env ${s.env}`);
      const v = DISPATCHER_DEFAULTS[field as keyof typeof DISPATCHER_DEFAULTS];
      const shown = Array.isArray(v) ? v.join(',') : String(v);
      if (!s.secret && typeof v !== 'boolean' && shown !== '') expect(line).toContain(`default ${shown}`);
    }
    // the token is a secret: never printed
    expect(stdout).not.toMatch(/control-token.*default/);
  });

  it('reads flags over env over defaults and names a bad field', () => {
    const r = loadDispatcherConfig(['--min-workers', '3', '--no-ringing'], { SIPDISP_MAX_WORKERS: '6' });
    if (r.help) throw new Error('help');
    expect(r.config).toMatchObject({ minWorkers: 3, maxWorkers: 6, noRinging: true, t1Ms: 500 });
    expect(Object.isFrozen(r.config)).toBe(true);
    expect(() => loadDispatcherConfig(['--t1-ms', '5'], {})).toThrow(ConfigError);
    // kernel steering is on by default; off through the environment or the flag with an explicit value
    expect(DISPATCHER_DEFAULTS.steering).toBe(true);
    expect(r.config.steering).toBe(true);
    const steering = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
      const x = loadDispatcherConfig(argv, env);
      if (x.help) throw new Error('help');
      return x.config.steering;
    };
    expect(steering([], { SIPDISP_STEERING: 'false' })).toBe(false);
    expect(steering(['--steering=false'])).toBe(false);
    expect(steering(['--steering', 'off', '--min-workers', '2'])).toBe(false);
    expect(steering(['--no-steering'])).toBe(false);
    // the flag wins over the environment, both ways
    expect(steering(['--steering=true'], { SIPDISP_STEERING: 'false' })).toBe(true);
    expect(steering(['--steering=off'], { SIPDISP_STEERING: 'true' })).toBe(false);
    expect(() => loadDispatcherConfig(['--steering=maybe'], {})).toThrow(/--steering takes true, false/);
    expect(() => loadDispatcherConfig(['--min-workers', '5', '--max-workers', '2'], {})).toThrow(
      /maxWorkers/,
    );
  });
});
