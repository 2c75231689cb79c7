/** The retry rules, table-tested. */
import { describe, expect, it } from 'vitest';
import { decide, isIdempotent, type Outcome } from '../src/routing/retry-policy.js';

describe('retry policy', () => {
  it('idempotent methods and the Idempotency-Key header', () => {
    for (const m of ['GET', 'HEAD', 'PUT', 'DELETE', 'get']) expect(isIdempotent(m, {})).toBe(true);
    for (const m of ['POST', 'PATCH']) expect(isIdempotent(m, {})).toBe(false);
    expect(isIdempotent('POST', { 'idempotency-key': 'k1' })).toBe(true);
  });

  const table: Array<[Outcome, boolean, number, string]> = [
    [{ failure: 'connect' }, true, 0, 'retry'],
    [{ failure: 'reset' }, true, 1, 'retry'],
    [{ failure: 'reset' }, true, 2, 'fail'], // retries used up (2)
    [{ failure: 'timeout' }, true, 0, 'fail'],
    [{ failure: 'connect' }, false, 0, 'fail'], // never retried
    [{ status: 503 }, true, 0, 'retry'],
    [{ status: 502 }, true, 2, 'answer'],
    [{ status: 502 }, false, 0, 'answer'],
    [{ status: 500 }, true, 0, 'answer'],
    [{ status: 200 }, false, 0, 'answer'],
  ];
  it.each(table)('%j idempotent=%s attempt=%i → %s', (outcome, idem, attempt, want) => {
    expect(decide(outcome, idem, attempt, 2)).toBe(want);
  });
});
