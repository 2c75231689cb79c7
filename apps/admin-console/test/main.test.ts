/** The built process: --help lists every setting with its real default, bad values name the field, SIGTERM stops it. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnProcess, waitFor } from '@switchyard/testing';
import { ConsoleSettings } from '../src/settings.js';
import { ConsoleErrors } from '../src/errors.js';
import { undocumentedCodes } from '@switchyard/testing';

const MAIN = path.resolve(import.meta.dirname, '../dist/main.js');

describe('admin-console main', () => {
  it('--help lists every setting with its real default', async () => {
    const p = spawnProcess(process.execPath, [MAIN, '--help']);
    expect((await p.exited).code).toBe(0);
    const out = p.output();
    for (const [flag, o] of Object.entries(ConsoleSettings.cli.options)) {
      const line = out.split('\n').find((l) => l.trimStart().startsWith(`--${flag} `));
      expect(line, flag).toBeDefined();
      if (o.defaultText !== undefined) expect(line, flag).toContain(`default ${o.defaultText}`);
      if (o.env) expect(line, flag).toContain(`env ${o.env}`);
    }
    expect(out).toContain('default 250');
    // secrets have no default shown and are never printed
    expect(out).not.toMatch(/--password <value>.*default/);
  });

  it('refuses a bad value naming the field, and an unreadable password file', async () => {
    const p = spawnProcess(process.execPath, [MAIN, '--poll-ms', '5']);
    expect((await p.exited).code).toBe(1);
    expect(p.output()).toMatch(/pollMs/);
    const q = spawnProcess(process.execPath, [MAIN, '--scheduler-url', 'not-a-url']);
    expect((await q.exited).code).toBe(1);
    expect(q.output()).toMatch(/schedulerUrl/);
    const r = spawnProcess(process.execPath, [MAIN, '--port', '0', '--password-file', '/nonexistent/pw']);
    expect((await r.exited).code).toBe(1);
    expect(r.output()).toMatch(/passwordFile/);
  }, 90_000); // three processes started one after the other: seconds each on a loaded machine

  it('starts with no tier at all (read-only), serves the page, and stops on SIGTERM', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'console-main-'));
    const pw = path.join(dir, 'pw');
    fs.writeFileSync(pw, 'a-long-operator-password\n');
    try {
      const p = spawnProcess(
        process.execPath,
        [MAIN, '--host', '127.0.14.1', '--port', '0', '--password-file', pw],
        {
          env: { ...process.env, LOG_LEVEL: 'warn' },
        },
      );
      const line = await waitFor(
        'ready line',
        () =>
          p
            .output()
            .split('\n')
            .find((l) => l.includes('"console":"ready"')),
        { timeoutMs: 60_000 },
      );
      const url = (JSON.parse(line) as { url: string }).url;
      const page = await fetch(`${url}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<div id="app">');
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      // the password is never in the output
      expect(p.output()).not.toContain('a-long-operator-password');
      p.child.kill('SIGTERM');
      expect((await p.exited).code).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  it('every error code is documented in the README', () => {
    expect(undocumentedCodes(ConsoleErrors, path.resolve(import.meta.dirname, '../README.md'))).toEqual([]);
  });
});
