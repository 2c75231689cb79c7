/**
 * The composed stack for end-to-end tests: the same components `npm start` runs (tools/stack), on free ports, with
 * the POP hosts on 127.14.<random>.N, started by a Supervisor the test controls (so a test can kill -9 one host).
 * SIPp runs asynchronously, several processes at once (each process is one RTP source port, so the mixer sees
 * several participants and relays between them).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { popHosts, startComposedStack, uacRtpScenario, type ComposedStack } from '@switchyard/stack';
import { spawnProcess } from '@switchyard/testing';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export type E2eStack = ComposedStack;

/** Starts the whole composed stack (every tier this branch has built), POP hosts on 127.14.<random>.N. */
export function startStack(o: { hosts: number; mixers: number }): Promise<E2eStack> {
  return startComposedStack({ root, ...o, addressPrefix: `127.14.${1 + Math.floor(Math.random() * 250)}` });
}

export interface SippResult {
  successful: number;
  failed: number;
  code: number | null;
  output: string;
}

/** One SIPp process: `calls` participants of `conf` sent to `host` (its SIP address), each playing RTP. */
export async function sipp(o: {
  target: string;
  local: string;
  conf: string;
  calls: number;
  rate?: number;
  pauseMs?: number;
  /** Each participant waits this long for a re-INVITE (a new mixer) and accepts it (see uacRtpScenario). */
  reinviteWaitMs?: number;
  /** The re-INVITE may not come: without one in `reinviteWaitMs` the call goes on (see uacRtpScenario). */
  reinviteOptional?: boolean;
  /** SIPp's whole-run cap (`-timeout`), s (default 60). */
  timeoutS?: number;
}): Promise<SippResult> {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-e2e-sipp-'));
  try {
    fs.writeFileSync(
      path.join(cwd, 'uac-rtp.xml'),
      uacRtpScenario({
        pauseMs: o.pauseMs ?? 3000,
        reinviteWaitMs: o.reinviteWaitMs,
        reinviteOptional: o.reinviteOptional,
      }),
    );
    const p = spawnProcess(
      'sipp',
      [
        ...['-sf', 'uac-rtp.xml', o.target, '-s', o.conf, '-m', String(o.calls), '-r', String(o.rate ?? 10)],
        ...['-l', String(o.calls), '-i', o.local, '-p', '0', '-mi', o.local, '-mp', '0'],
        ...[
          '-nostdin',
          '-timeout',
          `${o.timeoutS ?? 60}s`,
          '-timeout_error',
          '-trace_stat',
          '-trace_err',
          '-fd',
          '1',
        ],
      ],
      { cwd },
    );
    const { code } = await p.exited;
    const out = p.output();
    const stat = fs.readdirSync(cwd).find((f) => f.endsWith('_.csv'));
    const row = stat ? statRow(fs.readFileSync(path.join(cwd, stat), 'utf8')) : undefined;
    return {
      successful: row ? Number(row['SuccessfulCall(C)']) : 0,
      failed: row ? Number(row['FailedCall(C)']) : o.calls,
      code,
      output:
        out.slice(-1500) +
        fs
          .readdirSync(cwd)
          .filter((f) => f.endsWith('_errors.log'))
          .map((f) => fs.readFileSync(path.join(cwd, f), 'utf8').slice(-3000))
          .join('\n'),
    };
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

/** The last row of SIPp's `-trace_stat` CSV, by column name. */
function statRow(csv: string): Record<string, string> {
  const lines = csv.trim().split('\n');
  const head = lines[0]!.split(';');
  const last = lines[lines.length - 1]!.split(';');
  return Object.fromEntries(head.map((h, i) => [h, last[i] ?? '']));
}

export const hostsOf = (s: E2eStack) => popHosts(s.cfg.topology);

/** The tail of a component's log (for failure messages). */
export function logTail(s: E2eStack, name: string, grep?: RegExp, chars = 3000): string {
  try {
    const text = fs.readFileSync(path.join(s.dir, 'logs', `${name}.log`), 'utf8');
    const lines = grep ? text.split('\n').filter((l) => grep.test(l)) : text.split('\n');
    return `--- ${name} ---\n` + lines.join('\n').slice(-chars);
  } catch {
    return `--- ${name}: no log ---`;
  }
}
