import path from 'node:path';
import { undocumentedCodes } from '@switchyard/testing';
import { expect, it } from 'vitest';
import { PopWireErrors } from '../src/index.js';

it('documents every error code in the README', () => {
  expect(undocumentedCodes(PopWireErrors, path.join(import.meta.dirname, '../README.md'))).toEqual([]);
});
