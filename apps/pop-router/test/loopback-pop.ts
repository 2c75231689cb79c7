/**
 * A POP on loopback for tests: N hosts on 127.0.3.N, each a real host-dispatcher process and a real pop-router
 * process (udp encapsulation, unicast gossip), plus a minimal SIPp runner. Processes are stopped by pid.
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, freeTcpUdpPort, spawnProcess, waitFor, type Spawned } from '@switchyard/testing';
import { SECRET, TOKEN, keyringFile } from './helpers.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const DISPATCHER_MAIN = path.join(ROOT, 'apps/host-dispatcher/dist/main.js');
const ROUTER_MAIN = path.join(ROOT, 'apps/pop-router/dist/main.js');
const env = { ...process.env, LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'warn' };

export interface PopHostProcs {
  id: string;
  ip: string;
  sip: string;
  control: string;
  runtimeDir: string;
  dispatcher: Spawned;
  router: Spawned | undefined;
  routerUrl: string;
  respawnDispatcher: () => Spawned;
}

/** A UDP port free on every one of `hosts` (the tunnel port is POP-wide). */
async function portFreeOnAll(hosts: string[]): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await freeTcpUdpPort(hosts[0]);
    const ok = await Promise.all(
      hosts.map(
        (h) =>
          new Promise<boolean>((resolve) => {
            const s = dgram.createSocket('udp4');
            s.once('error', () => resolve(false));
            s.bind(port, h, () => s.close(() => resolve(true)));
          }),
      ),
    );
    if (ok.every(Boolean)) return port;
  }
  throw new Error('no port free on every host');
}

/** Worker pids seen under each dispatcher primary: a primary that exits during start orphans its workers. */
const workerPids = new Map<Spawned, Set<number>>();

function noteWorkers(d: Spawned): void {
  let set = workerPids.get(d);
  if (!set) workerPids.set(d, (set = new Set()));
  try {
    for (const c of fs.readFileSync(`/proc/${d.pid}/task/${d.pid}/children`, 'utf8').trim().split(/\s+/))
      if (c) set.add(Number(c));
  } catch {
    // the primary is gone
  }
}

/** Stops a dispatcher and, by pid, every worker it was seen to have. */
async function stopDispatcher(h: PopHostProcs): Promise<void> {
  noteWorkers(h.dispatcher);
  await h.dispatcher.stop();
  for (const c of workerPids.get(h.dispatcher) ?? []) {
    try {
      process.kill(c, 'SIGKILL');
    } catch {
      // exited with its primary
    }
  }
}

export async function startLoopbackPop(n: number, third = 3) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pop-loopback-'));
  const keyring = keyringFile(dir, SECRET);
  const ips = Array.from({ length: n }, (_, i) => `127.0.${third}.${i + 1}`);
  const tunnelPort = await portFreeOnAll(ips);
  const gossipPort = await portFreeOnAll(ips);
  const hosts: PopHostProcs[] = [];

  // one host at a time, up to three attempts: forking workers on a loaded 2-core machine can exceed the
  // dispatcher's own worker start timeout (it then exits, and says so)
  const waitDispatcher = async (h: PopHostProcs) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await waitFor(
          `dispatcher ${h.id} healthy`,
          async () => {
            noteWorkers(h.dispatcher);
            if (h.dispatcher.child.exitCode !== null)
              throw new Error(`dispatcher exited: ${h.dispatcher.output().slice(-1000)}`);
            const r = await fetch(`${h.control}/healthz`).catch(() => undefined);
            return r?.ok ? ((await r.json()) as { ready: number }).ready >= 2 : false;
          },
          { timeoutMs: 60_000, intervalMs: 50 },
        );
        return;
      } catch (err) {
        await stopDispatcher(h);
        if (attempt >= 3) throw err;
        h.dispatcher = h.respawnDispatcher();
      }
    }
  };

  const startRouter = async (h: PopHostProcs) => {
    const router = spawnProcess(
      process.execPath,
      [
        ROUTER_MAIN,
        ...['--id', h.id, '--address', h.ip, '--gossip-port', String(gossipPort)],
        ...[
          '--gossip-transport',
          'unicast',
          '--gossip-profile',
          'test',
          '--seeds',
          `${ips[0]}:${gossipPort}`,
        ],
        ...['--keyring-file', keyring, '--tunnel-port', String(tunnelPort), '--port', '0'],
        ...['--dispatcher-socket', path.join(h.runtimeDir, 'workers.seqpacket'), '--link-retry-ms', '100'],
        // a short release linger: the tests below wait for a conference's release after its last call
        ...['--release-linger-ms', '1000'],
      ],
      { env: { ...env, POPR_TOKEN: TOKEN } },
    );
    h.router = router;
    h.routerUrl = await waitFor(
      `pop-router ${h.id} ready (${router.output().slice(-500)})`,
      () => {
        if (router.child.exitCode !== null)
          throw new Error(`pop-router exited: ${router.output().slice(-2000)}`);
        const line = router
          .output()
          .split('\n')
          .find((l) => l.includes('"popRouter":"ready"'));
        return line ? (JSON.parse(line) as { url: string }).url : undefined;
      },
      // generous: on a loaded shared machine a Node start alone can take many seconds
      { timeoutMs: 60_000 },
    );
  };

  try {
    for (let i = 0; i < n; i++) {
      const ip = ips[i]!;
      const sipPort = await freeTcpUdpPort(ip);
      const controlPort = await freePort();
      const runtimeDir = path.join(dir, `h${i + 1}`);
      fs.mkdirSync(runtimeDir, { mode: 0o700 });
      const spawnDispatcher = () =>
        spawnProcess(
          process.execPath,
          [
            DISPATCHER_MAIN,
            ...[
              '--listen',
              `${ip}:${sipPort}`,
              '--control-port',
              String(controlPort),
              '--control-token',
              TOKEN,
            ],
            ...['--min-workers', '2', '--max-workers', '2', '--spare-workers', '0'],
            ...['--drain-timeout-ms', '1000', '--runtime-dir', runtimeDir],
          ],
          // a loaded shared machine can take longer than the default 10 s to start a worker
          // a POP host runs without kernel steering (tools/deploy/pop-host/pop-host.env): the POP table routes
          { env: { ...env, SIPDISP_WORKER_START_TIMEOUT_MS: '60000', SIPDISP_STEERING: 'false' } },
        );
      const h: PopHostProcs = {
        id: `h${i + 1}`,
        ip,
        sip: `${ip}:${sipPort}`,
        control: `http://127.0.0.1:${controlPort}`,
        runtimeDir,
        dispatcher: spawnDispatcher(),
        router: undefined,
        routerUrl: '',
        respawnDispatcher: spawnDispatcher,
      };
      hosts.push(h);
      await waitDispatcher(h);
    }
    for (const h of hosts) await startRouter(h);
    await waitFor(
      'every router sees every host alive and its dispatcher linked',
      async () => {
        for (const h of hosts) {
          const v = (await (await fetch(`${h.routerUrl}/v1/hosts`)).json()) as {
            hosts: Array<{ state: string }>;
          };
          if (v.hosts.filter((x) => x.state === 'alive').length !== n) return false;
          const health = (await (await fetch(`${h.routerUrl}/healthz`)).json()) as { dispatcher: boolean };
          if (!health.dispatcher) return false;
        }
        return true;
      },
      { timeoutMs: 60_000 },
    );
  } catch (err) {
    await Promise.all(hosts.flatMap((h) => [h.router?.stop(), stopDispatcher(h)]));
    throw err;
  }

  return {
    hosts,
    tunnelPort,
    async metric(
      h: PopHostProcs,
      name: string,
      labels: Record<string, string> = {},
      which: 'dispatcher' | 'router' = 'dispatcher',
    ) {
      const url = which === 'dispatcher' ? `${h.control}/metrics` : `${h.routerUrl}/metrics`;
      const text = await (await fetch(url)).text();
      let sum = 0;
      for (const line of text.split('\n')) {
        if (!line.startsWith(name)) continue;
        const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        if (Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`)))
          sum += Number(m[3]);
      }
      return sum;
    },
    async owner(h: PopHostProcs, session: string): Promise<string | undefined> {
      const r = await fetch(`${h.routerUrl}/v1/sessions/${session}`);
      return r.ok ? ((await r.json()) as { owner: string }).owner : undefined;
    },
    async restartRouter(h: PopHostProcs, kill9 = false) {
      if (kill9) await h.router?.kill9();
      else await h.router?.stop();
      await startRouter(h);
    },
    async restartDispatcher(h: PopHostProcs) {
      await stopDispatcher(h);
      h.dispatcher = h.respawnDispatcher();
      await waitDispatcher(h);
    },
    async stop() {
      await Promise.all(hosts.flatMap((h) => [h.router?.stop(), stopDispatcher(h)]));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface SippOutcome {
  code: number | null;
  successful: number;
  failed: number;
  diagnostics: string;
}

/**
 * A uac whose in-dialog requests follow the dialog (RFC 3261 §12.2.1.1): the re-INVITE and the BYE go to the
 * Contact of the 200 (`[next_url]`), so they carry whatever the worker wrote there (the owner token, C9).
 */
export const DIALOG_UAC_XML = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="dialog uac">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:sipp@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

  ]]></send>
  <pause/>
  <send retrans="500"><![CDATA[
INVITE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 INVITE
Contact: <sip:sipp@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="200"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 ACK
Max-Forwards: 70
Content-Length: 0

  ]]></send>
  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 3 BYE
Max-Forwards: 70
Content-Length: 0

  ]]></send>
  <recv response="200"/>
</scenario>
`;

/** SIPp's built-in uac against `target`: `calls` calls to `sip:<service>@…`, bounded by count and `-timeout`. */
export async function sippUac(
  target: string,
  o: {
    calls: number;
    rate: number;
    service: string;
    callLengthMs?: number;
    timeoutS?: number;
    /** Run {@link DIALOG_UAC_XML} (re-INVITE and BYE to the Contact, after `callLengthMs`) instead of `-sn uac`. */
    dialog?: boolean;
  },
): Promise<SippOutcome> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pop-sipp-'));
  const scenario =
    o.dialog === true
      ? (fs.writeFileSync(path.join(dir, 'dialog-uac.xml'), DIALOG_UAC_XML),
        ['-sf', path.join(dir, 'dialog-uac.xml')])
      : ['-sn', 'uac'];
  const args = [
    ...scenario,
    ...[target, '-i', '127.0.0.1', '-p', '0', '-s', o.service],
    ...[
      '-m',
      String(o.calls),
      '-r',
      String(o.rate),
      '-l',
      String(o.calls),
      '-d',
      String(o.callLengthMs ?? 0),
    ],
    ...[
      '-timeout',
      `${o.timeoutS ?? 30}s`,
      '-timeout_error',
      '-trace_stat',
      '-trace_err',
      '-nostdin',
      '-fd',
      '1',
    ],
  ];
  const child = spawn('sipp', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-8000)));
  child.stderr.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-8000)));
  const guard = setTimeout(() => child.kill('SIGKILL'), ((o.timeoutS ?? 30) + 10) * 1000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(guard);
  const csv = fs.readdirSync(dir).find((f) => f.endsWith('_.csv'));
  const lines = csv ? fs.readFileSync(path.join(dir, csv), 'utf8').trim().split('\n') : [];
  const head = lines[0]?.split(';') ?? [];
  const last = lines[lines.length - 1]?.split(';') ?? [];
  const stat = (k: string) => Number(last[head.indexOf(k)] ?? NaN);
  const errors = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('_errors.log'))
    .map((f) => fs.readFileSync(path.join(dir, f), 'utf8').slice(0, 3000))
    .join('\n');
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    code,
    successful: stat('SuccessfulCall(C)'),
    failed: stat('FailedCall(C)'),
    diagnostics: `sipp ${args.join(' ')}\n${out.slice(-2000)}\n${errors}`,
  };
}
