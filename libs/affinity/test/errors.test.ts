import path from 'node:path';
import { SwitchyardError } from '@switchyard/core';
import { undocumentedCodes } from '@switchyard/testing';
import { describe, expect, it } from 'vitest';
import { AffinityError, AffinityErrors } from '../src/index.js';

describe('AffinityErrors', () => {
  it('documents every code in the README', () => {
    expect(undocumentedCodes(AffinityErrors, path.join(import.meta.dirname, '../README.md'))).toEqual([]);
  });

  it('uses the AFF_ERR_ prefix and SwitchyardError', () => {
    for (const code of Object.keys(AffinityErrors)) expect(code).toMatch(/^AFF_ERR_[A-Z_]+$/);
    const e = new AffinityError('AFF_ERR_NOT_FOUND', 'x');
    expect(e).toBeInstanceOf(SwitchyardError);
    expect(e.name).toBe('AffinityError');
  });
});
