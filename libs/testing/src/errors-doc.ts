import fs from 'node:fs';

/** Codes from `table` that do not appear in the README at `readmePath` (for "every code is documented" tests). */
export function undocumentedCodes(table: Record<string, unknown>, readmePath: string): string[] {
  const text = fs.readFileSync(readmePath, 'utf8');
  return Object.keys(table).filter((code) => !text.includes(`\`${code}\``));
}

/**
 * The error `fn` throws synchronously, checked to be an instance of `type`, so a test can inspect its fields
 * (`code`, `field` …). Throws when `fn` returns normally or throws something else.
 */
export function thrownBy<E extends Error>(fn: () => unknown, type: abstract new (...args: never[]) => E): E {
  try {
    fn();
  } catch (err) {
    if (err instanceof type) return err;
    throw err;
  }
  throw new Error(`expected ${type.name} to be thrown; nothing was`);
}
