#!/usr/bin/env node
// Set-up from nothing, with Node built-ins only (it runs before node_modules exists).
//   node tools/setup/bootstrap.mjs [--for test|stack|bench] [--check]
// 1. Installs the Debian packages the purpose needs (tools/setup/system-packages.json) with apt-get when root,
//    or stops with a message naming them when not.
// 2. Runs `npm ci` when node_modules is missing or older than package-lock.json.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
if (args.includes('--help')) {
  console.log(`usage: node tools/setup/bootstrap.mjs [--for test|stack|bench] [--check]
  --for P   install what purpose P needs (default: test)
  --check   only report what is missing; exit 1 if anything is`);
  process.exit(0);
}
const forIdx = args.indexOf('--for');
const purpose = forIdx >= 0 ? args[forIdx + 1] : 'test';
const checkOnly = args.includes('--check');
const table = JSON.parse(fs.readFileSync(path.join(root, 'tools/setup/system-packages.json'), 'utf8'));
if (!Array.isArray(table[purpose])) {
  console.error(
    `bootstrap: unknown purpose "${purpose}" (one of: ${Object.keys(table)
      .filter((k) => k !== '//')
      .join(', ')})`,
  );
  process.exit(2);
}

const log = (msg) => console.log(`[setup] ${msg}`);
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

// --- Debian packages --------------------------------------------------------------------------------------------
const missing = table[purpose].filter((e) => !has(e.command));
if (missing.length) {
  const pkgs = [...new Set(missing.map((e) => e.package))];
  if (checkOnly) {
    log(`missing Debian packages: ${pkgs.join(' ')}`);
    process.exitCode = 1;
  } else if (process.getuid && process.getuid() === 0 && has('apt-get')) {
    log(`installing Debian packages: ${pkgs.join(' ')}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const run = (a) => execFileSync('apt-get', a, { stdio: ['ignore', 'inherit', 'inherit'], env });
    run(['update', '-qq']);
    run(['install', '-y', '-qq', '--no-install-recommends', ...pkgs]);
    // a package that installs a service may start it (redis-server does); tests start their own on free ports
    const still = missing.filter((e) => !has(e.command));
    if (still.length) {
      console.error(
        `[setup] installed, but still missing commands: ${still.map((e) => e.command).join(' ')}`,
      );
      process.exit(1);
    }
  } else {
    console.error(
      `[setup] missing Debian packages: ${pkgs.join(' ')}\n` +
        `[setup] run as root, or install them first:  sudo apt-get install -y ${pkgs.join(' ')}`,
    );
    process.exit(1);
  }
} else {
  log(`Debian packages for "${purpose}": present`);
}

// --- npm packages -----------------------------------------------------------------------------------------------
const lock = path.join(root, 'package-lock.json');
const stamp = path.join(root, 'node_modules/.package-lock.json');
const fresh = fs.existsSync(stamp) && fs.statSync(stamp).mtimeMs >= fs.statSync(lock).mtimeMs;
if (!fresh) {
  if (checkOnly) {
    log('node_modules is missing or older than package-lock.json');
    process.exitCode = 1;
  } else {
    log('npm ci');
    const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) process.exit(r.status ?? 1);
  }
} else {
  log('node_modules: up to date');
}
