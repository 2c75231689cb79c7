import fs from 'node:fs';

/** Codes from `table` that do not appear in the README at `readmePath` (for "every code is documented" tests). */
export function undocumentedCodes(table: Record<string, unknown>, readmePath: string): string[] {
  const text = fs.readFileSync(readmePath, 'utf8');
  return Object.keys(table).filter((code) => !text.includes(`\`${code}\``));
}
