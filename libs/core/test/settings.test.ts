import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { ConfigError, defineSettings, setting } from '../src/index.js';

const S = defineSettings({
  name: 'demo',
  summary: 'a demo',
  schema: Type.Object({
    listenPort: setting(Type.Integer({ minimum: 0, maximum: 65535 }), 5060, 'SIP port', 'DEMO_PORT'),
    seeds: setting(Type.Array(Type.String()), ['a:1'], 'seed hosts'),
    verbose: setting(Type.Boolean(), false, 'log more'),
    token: setting(Type.String(), 'hunter2', 'secret token', 'DEMO_TOKEN', { secret: true }),
    injected: setting(Type.Number(), 1, 'set in code only', undefined, { noFlag: true }),
  }),
});

describe('defineSettings', () => {
  it('derives --help from the schema, with the real defaults and env names, never a secret', () => {
    const r = S.load(['--help'], {});
    expect(r.help).toBe(true);
    const text = r.help ? r.text : '';
    expect(text).toMatch(/--listen-port <value>\s+SIP port \[env DEMO_PORT, default 5060\]/);
    expect(text).toMatch(/--seeds <value>\s+seed hosts \[default a:1\]/);
    expect(text).toMatch(/--verbose\s+log more/);
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('--injected');
  });

  it('reads flags over env over defaults, converts and freezes', () => {
    const r = S.load(['--seeds', 'x:1', '--seeds', 'y:2', '--verbose'], { DEMO_PORT: '7000' });
    if (r.help) throw new Error('help');
    expect(r.config).toEqual({
      listenPort: 7000,
      seeds: ['x:1', 'y:2'],
      verbose: true,
      token: 'hunter2',
      injected: 1,
    });
    expect(Object.isFrozen(r.config)).toBe(true);
    expect(S.defaults.listenPort).toBe(5060);
    expect(S.flagOf('listenPort')).toBe('--listen-port');
  });

  it('names the bad field', () => {
    expect(() => S.load(['--listen-port', '70000'], {})).toThrow(ConfigError);
    expect(() => S.load(['--listen-port', '70000'], {})).toThrow(/listenPort/);
  });

  it('refuses a setting without a description', () => {
    expect(() =>
      defineSettings({ name: 'x', summary: 'y', schema: Type.Object({ a: Type.Integer({ default: 1 }) }) }),
    ).toThrow(/no description/);
  });
});
