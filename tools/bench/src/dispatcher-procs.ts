/**
 * Processes for the dispatcher benchmark, each started through a bin (the bench does not import the app) and
 * stopped by pid: our dispatcher (`host-dispatcher`), a standalone SIP worker (`sip-worker-standalone`), a
 * node:cluster of workers, Kamailio's dispatcher module.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageBin, spawnProcess, untilReady, type Spawned } from '@switchyard/launch';

const DISPATCHER_PACKAGE = '@switchyard/host-dispatcher';

export interface Proc {
  readonly name: string;
  readonly pid: number;
  output(): string;
  stop(): Promise<void>;
}

function start(name: string, cmd: string, args: string[], cwd?: string, env: NodeJS.ProcessEnv = {}) {
  const spawned = spawnProcess(cmd, args, { cwd, env: { ...process.env, LOG_LEVEL: 'warn', ...env } });
  const proc: Proc = {
    name,
    pid: spawned.pid,
    output: () => spawned.output(),
    stop: () => spawned.stop(5000),
  };
  return { proc, spawned };
}

/** Waits until `check` holds; a process that never gets there is stopped (by pid) before the error is thrown. */
async function ready(spawned: Spawned, what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  try {
    // a bound for failure only: on a busy 2-core machine a dispatcher can take 20 s to get its workers ready
    await untilReady(spawned, what, check, { timeoutMs: 60_000, intervalMs: 50 });
  } catch (err) {
    await spawned.stop(2000);
    throw err;
  }
}

export async function startStandalone(port: number, opts: { cluster?: number } = {}): Promise<Proc> {
  // --no-ringing everywhere: Kamailio's several processes can relay a 180 after the 200, which SIPp's uac calls
  // unexpected; every set-up answers 100 then 200 so that all do the same SIP work
  const args = [
    packageBin(DISPATCHER_PACKAGE, 'sip-worker-standalone'),
    '--listen',
    `127.0.0.1:${port}`,
    '--no-ringing',
    ...(opts.cluster ? ['--cluster', String(opts.cluster)] : []),
  ];
  const { proc, spawned } = start(
    opts.cluster ? `cluster-${opts.cluster}` : `standalone-${port}`,
    process.execPath,
    args,
  );
  await ready(spawned, `${proc.name} ready`, () => proc.output().includes('ready '));
  return proc;
}

export async function startDispatcher(
  port: number,
  controlPort: number,
  workers: number,
  extraArgs: string[] = [],
  main?: string,
  /**
   * Extra environment (e.g. `SIPDISP_STEERING=false`: the environment, not `--steering=false`, so that a base build
   * from before boolean flags took a value, run with BENCH_DISPATCHER_BASE_MAIN, reads it too).
   */
  env: NodeJS.ProcessEnv = {},
): Promise<Proc> {
  const args = [
    // BENCH_DISPATCHER_MAIN: another build's main.js (e.g. the base of a change), to measure before/after side by side
    main ?? (process.env['BENCH_DISPATCHER_MAIN'] || packageBin(DISPATCHER_PACKAGE, 'host-dispatcher')),
    '--listen',
    `127.0.0.1:${port}`,
    '--control-port',
    String(controlPort),
    '--min-workers',
    String(workers),
    '--max-workers',
    String(workers),
    '--spare-workers',
    '0',
    '--drain-timeout-ms',
    '1000',
    // a shared 2-core machine can take far longer than the default 10 s to fork and load a worker
    '--worker-start-timeout-ms',
    '60000',
    '--no-ringing',
    ...extraArgs,
  ];
  const { proc, spawned } = start(`dispatcher-${workers}w`, process.execPath, args, undefined, env);
  await ready(spawned, `${proc.name} healthy`, async () => {
    const r = await fetch(`http://127.0.0.1:${controlPort}/healthz`).catch(() => undefined);
    return !!r?.ok && ((await r.json()) as { ready: number }).ready >= workers;
  });
  return proc;
}

/**
 * Kamailio 5.6 `dispatcher` hashing on the Request-URI (algorithm 3) in front of `backends`, stateful (`t_relay`),
 * no Record-Route. SIPp sends ACK and BYE to Kamailio too; they carry the worker's Contact as their Request-URI
 * (RFC 3261 §12.2.1.1, `uacFollowingContact`), so Kamailio relays an in-dialog request (To tag) to its Request-URI,
 * as a proxy that did not record-route does, instead of hashing it again (a different URI hashes elsewhere: 481).
 */
export async function startKamailio(port: number, backends: number[]): Promise<Proc & { dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kamailio-bench-'));
  fs.writeFileSync(path.join(dir, 'dispatcher.list'), backends.map((p) => `1 sip:127.0.0.1:${p}\n`).join(''));
  const cfg = `#!KAMAILIO
debug=1
log_stderror=yes
children=4
auto_aliases=no
listen=udp:127.0.0.1:${port}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "kex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "dispatcher.so"
modparam("dispatcher", "list_file", "${path.join(dir, 'dispatcher.list')}")
request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (is_method("CANCEL")) { if (t_check_trans()) t_relay(); exit; }
  if (is_method("ACK") && t_check_trans()) { t_relay(); exit; }
  if (has_totag()) { if (!t_relay()) sl_reply_error(); exit; }
  if (!ds_select_dst("1", "3")) { sl_send_reply("503", "No destination"); exit; }
  if (!t_relay()) sl_reply_error();
  exit;
}
`;
  const cfgFile = path.join(dir, 'kamailio.cfg');
  fs.writeFileSync(cfgFile, cfg);
  // -DD: stay in the foreground so we hold its pid; -m 1024: less shared memory fails near 2,400 calls/s
  const { proc, spawned } = start('kamailio', 'kamailio', [
    '-f',
    cfgFile,
    '-DD',
    '-E',
    '-m',
    '1024',
    '-M',
    '16',
    '-Y',
    dir,
    '-w',
    dir,
  ]);
  await ready(spawned, 'kamailio listening', () => proc.output().includes(`:${port}`));
  await new Promise((r) => setTimeout(r, 300));
  return {
    ...proc,
    dir,
    stop: async () => {
      await proc.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
