import path from 'node:path';
import { undocumentedCodes } from '@switchyard/testing';
import { expect, it } from 'vitest';
import { PopRouterErrors } from '../src/index.js';

it('documents every error code in the README', () => {
  expect(undocumentedCodes(PopRouterErrors, path.join(import.meta.dirname, '../README.md'))).toEqual([]);
});
