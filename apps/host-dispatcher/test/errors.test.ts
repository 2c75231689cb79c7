import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { undocumentedCodes } from '@switchyard/testing';
import { ConfigError } from '@switchyard/core';
import { DispatcherErrors, parseDispatcherConfig, parseListen } from '../src/index.js';

describe('errors and config', () => {
  it('documents every error code in the README', () => {
    expect(undocumentedCodes(DispatcherErrors, path.join(import.meta.dirname, '../README.md'))).toEqual([]);
  });

  it('validates config once, names the bad field, freezes', () => {
    const cfg = parseDispatcherConfig({
      listen: ['127.0.0.1:5999', '[::1]:5999'],
      minWorkers: '3',
      maxWorkers: '4',
    });
    expect(cfg.minWorkers).toBe(3);
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(() => parseDispatcherConfig({ minWorkers: 5, maxWorkers: 2 })).toThrow(ConfigError);
    expect(() => parseDispatcherConfig({ controlPort: 70000 })).toThrow(/controlPort/);
    expect(() => parseListen('localhost')).toThrow(expect.objectContaining({ code: 'DSP_ERR_BAD_LISTEN' }));
    expect(parseListen('[::1]:5060')).toEqual({ host: '::1', port: 5060 });
  });
});
