import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { ConfigError, CoreErrors, parseCli, parseConfig } from '../src/index.js';
import { undocumentedCodes } from '@switchyard/testing';

const schema = Type.Object({
  port: Type.Integer({ minimum: 1, maximum: 65535, default: 5060 }),
  host: Type.String({ default: '127.0.0.1' }),
  workers: Type.Object({ min: Type.Integer({ minimum: 0, default: 1 }) }, { default: {} }),
  verbose: Type.Boolean({ default: false }),
});

describe('parseConfig', () => {
  it('applies defaults, converts strings and freezes', () => {
    const cfg = parseConfig(schema, { port: '7000', workers: { min: '3' } });
    expect(cfg).toEqual({ port: 7000, host: '127.0.0.1', workers: { min: 3 }, verbose: false });
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.workers)).toBe(true);
  });

  it('names the bad field in a typed error', () => {
    try {
      parseConfig(schema, { workers: { min: -2 } });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).code).toBe('CORE_ERR_CONFIG');
      expect((err as ConfigError).field).toBe('workers.min');
    }
    expect(() => parseConfig(schema, { port: 'x' })).toThrow(/port/);
  });

  it('leaves values as given with convert: false (init objects built in code)', () => {
    expect(parseConfig(schema, { port: 1.5 }).port).toBe(1); // converted by default
    for (const port of [1.5, '7000', true]) {
      expect(() => parseConfig(schema, { port }, { convert: false })).toThrow(ConfigError);
    }
    expect(parseConfig(schema, { port: 7000 }, { convert: false }).port).toBe(7000);
  });
});

describe('parseCli', () => {
  const spec = {
    name: 'demo',
    summary: 'a demo',
    options: {
      port: { type: 'string' as const, env: 'DEMO_PORT', doc: 'port to bind', defaultText: '5060' },
      'min-workers': { type: 'string' as const, field: 'workers.min', doc: 'fewest workers' },
      verbose: { type: 'boolean' as const, env: 'DEMO_VERBOSE', doc: 'talk more' },
    },
  };

  it('takes flags over env and maps fields', () => {
    const r = parseCli(spec, ['--min-workers', '2'], { DEMO_PORT: '6000' });
    expect(r).toEqual({ help: false, values: { port: '6000', workers: { min: '2' } } });
    const r2 = parseCli(spec, ['--port', '7000'], { DEMO_PORT: '6000' });
    expect(r2.help === false && r2.values['port']).toBe('7000');
  });

  it('prints help listing every flag and env', () => {
    const r = parseCli(spec, ['--help'], {});
    expect(r.help).toBe(true);
    if (r.help) {
      expect(r.text).toContain('--min-workers');
      expect(r.text).toContain('DEMO_PORT');
    }
  });

  it('takes an explicit value for a boolean flag: --x=false, --x off, --no-x (a default of true can be turned off)', () => {
    const v = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
      const r = parseCli(spec, argv, env);
      return r.help ? undefined : r.values['verbose'];
    };
    expect(v(['--verbose'])).toBe(true);
    expect(v([])).toBeUndefined();
    for (const [word, want] of [
      ['false', false],
      ['off', false],
      ['0', false],
      ['true', true],
      ['on', true],
      ['1', true],
    ] as const) {
      expect(v([`--verbose=${word}`])).toBe(want);
      expect(v(['--verbose', word, '--port', '7'])).toBe(want);
    }
    expect(v(['--no-verbose'])).toBe(false);
    // an explicit value wins over a bare flag given as well, and over the environment
    expect(v(['--verbose', '--verbose=false'])).toBe(false);
    expect(v(['--no-verbose'], { DEMO_VERBOSE: 'true' })).toBe(false);
    // a string flag's value is never taken for a boolean word or a negation
    const r = parseCli(spec, ['--port', 'off', '--verbose'], {});
    expect(r.help === false && r.values).toEqual({ port: 'off', verbose: true });
    expect(() => parseCli(spec, ['--port', '--no-verbose'], {})).toThrow(
      expect.objectContaining({ code: 'CORE_ERR_USAGE' }),
    );
    expect(() => parseCli(spec, ['--verbose=maybe'], {})).toThrowError(/takes true, false, on, off, 1 or 0/);
    expect(() => parseCli(spec, ['--no-port'], {})).toThrowError(/see --help/);
    expect(() => parseCli(spec, ['--port=1', 'off'], {})).toThrowError(/see --help/);
  });

  it('rejects unknown flags with a usage error', () => {
    expect(() => parseCli(spec, ['--nope'], {})).toThrow(expect.objectContaining({ code: 'CORE_ERR_USAGE' }));
  });
});

describe('errors', () => {
  it('every code is documented in the README', () => {
    expect(undocumentedCodes(CoreErrors, new URL('../README.md', import.meta.url).pathname)).toEqual([]);
  });
});
