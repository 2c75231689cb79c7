#!/usr/bin/env node
// Runs every check and every test (prettier --check, then through Nx: build, lint, typecheck, test), then prints one summary line
// `tests: N passed, N failed` from the Vitest JSON reports. Exits non-zero when anything failed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };
const reports = path.join(root, 'reports/vitest');
fs.rmSync(reports, { recursive: true, force: true });

const nx = (args) => {
  console.log(`\n$ nx ${args.join(' ')}`);
  return (
    spawnSync(path.join(root, 'node_modules/.bin/nx'), args, { cwd: root, env, stdio: 'inherit' }).status ?? 1
  );
};
const started = Date.now();
console.log('\n$ prettier --check .');
const formatStatus =
  spawnSync(path.join(root, 'node_modules/.bin/prettier'), ['--check', '.', '--log-level', 'warn'], {
    cwd: root,
    stdio: 'inherit',
  }).status ?? 1;
if (formatStatus !== 0) console.error('formatting differs: run `npm run format` (the tests still run)');
// Nx keeps its cache per machine (~/.nx), shared by every clone: in CI nothing is taken from it (checks and tests), so
// a result computed for another checkout (or with inputs Nx does not hash, such as a dependency's sources read
// through the `@switchyard/source` condition, or a `dist` that tsc's incremental check left stale and Nx cached
// under the new sources' hash, seen on 2026-12-02) can never pass a check that would fail here
const fresh = process.env.CI === 'true' ? ['--skip-nx-cache'] : [];
let status = nx(['run-many', '-t', 'build', 'lint', 'typecheck', '--output-style=static', ...fresh]);
// tests after the build; two projects at a time on two cores, each running its files in parallel
// (in CI not replayed from the cache either: every suite runs on the checkout under test)
if (status === 0) status = nx(['run-many', '-t', 'test', '--parallel=2', '--output-style=static', ...fresh]);

let passed = 0;
let failed = 0;
let skipped = 0;
// what failed, repeated at the very end: CI keeps only the tail of a long log, and a failure's message scrolls out of it
const failures = [];
if (fs.existsSync(reports)) {
  for (const f of fs.readdirSync(reports)) {
    const r = JSON.parse(fs.readFileSync(path.join(reports, f), 'utf8'));
    passed += r.numPassedTests ?? 0;
    failed += r.numFailedTests ?? 0;
    skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    for (const file of r.testResults ?? []) {
      const where = path.relative(root, file.name ?? f);
      if (file.status === 'failed' && file.message) failures.push(`${where}: ${file.message}`);
      // a hook's error (beforeAll, afterAll) fails the file with no message and its tests only skipped
      else if (file.status === 'failed' && !(file.assertionResults ?? []).some((t) => t.status === 'failed'))
        failures.push(
          `${where}: the file failed outside its tests (a beforeAll/afterAll hook): see its output above`,
        );
      for (const t of file.assertionResults ?? [])
        if (t.status === 'failed')
          failures.push(`${where} › ${t.fullName}\n${(t.failureMessages ?? []).join('\n')}`);
    }
  }
}
for (const failure of failures) {
  // the first lines of each message and its stack: enough to tell which check failed and where
  console.log(`\nFAILED ${failure.split('\n').slice(0, 25).join('\n  ')}`);
}
console.log(`\nall checks took ${Math.round((Date.now() - started) / 1000)} s`);
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (passed === 0 && status === 0) {
  console.error('no test ran: treating as a failure');
  status = 1;
}
process.exit(status === 0 && failed === 0 && formatStatus === 0 ? 0 : 1);
