/**
 * Dispatcher settings, declared once: each with its type and bounds, default, one-line description and env name.
 * `--help`, flags, env, defaults and validation all derive from {@link DispatcherSettings}; the result is validated
 * once (a ConfigError names the field) and frozen.
 */
import net from 'node:net';
import { Type, type Static } from '@sinclair/typebox';
import { ConfigError, defineSettings, setting } from '@switchyard/core';
import { DispatcherError } from './errors.js';
import { MediaSettings } from './worker/media.js';

const int = (o: { minimum?: number; maximum?: number }) => Type.Integer(o);

export const DispatcherSettings = defineSettings({
  name: 'host-dispatcher',
  summary: 'SIP dispatcher: forks SIP workers and routes every message of a conference to one of them',
  schema: Type.Object({
    // C7: --balancer-url, --balancer-token, --media-service, --media-timeout-ms (the workers read them from env)
    ...MediaSettings.schema.properties,
    listen: setting(
      Type.Array(Type.String(), { minItems: 1, maxItems: 16 }),
      ['127.0.0.1:5060'],
      'SIP service address host:port (UDP and TCP on each), repeatable',
      'SIPDISP_LISTEN',
    ),
    controlHost: setting(
      Type.String(),
      '127.0.0.1',
      'control API host (its own port, never the SIP one)',
      'SIPDISP_CONTROL_HOST',
    ),
    controlPort: setting(
      int({ minimum: 0, maximum: 65535 }),
      8060,
      'control API port (0: any free port, logged at start)',
      'SIPDISP_CONTROL_PORT',
    ),
    controlToken: setting(
      Type.String(),
      '',
      'bearer token for the control API (mutations, and reads naming sessions); empty: refused',
      'SIPDISP_CONTROL_TOKEN',
      { secret: true },
    ),
    controlReadToken: setting(
      Type.String(),
      '',
      'bearer token for reads that name sessions (GET /workers with sessions, GET /conferences/:id) only',
      'SIPDISP_CONTROL_READ_TOKEN',
      { secret: true },
    ),
    minWorkers: setting(
      int({ minimum: 1, maximum: 64 }),
      2,
      'workers started at once and kept at least',
      'SIPDISP_MIN_WORKERS',
    ),
    spareWorkers: setting(
      int({ minimum: 0, maximum: 8 }),
      1,
      'hot spare workers: connected, promoted at once after a crash or when more are needed',
      'SIPDISP_SPARE_WORKERS',
    ),
    maxWorkers: setting(
      int({ minimum: 1, maximum: 64 }),
      4,
      'workers at most (spares not counted)',
      'SIPDISP_MAX_WORKERS',
    ),
    loadThreshold: setting(
      int({ minimum: 1 }),
      2000,
      'Call-ID bindings per worker above which it is loaded; when all are, another worker starts',
      'SIPDISP_LOAD_THRESHOLD',
    ),
    maxMessageBytes: setting(
      int({ minimum: 1024, maximum: 65535 }),
      16384,
      'largest SIP message accepted (bytes), UDP or TCP; larger ones get 513 when SIP allows',
      'SIPDISP_MAX_MESSAGE_BYTES',
    ),
    tcpFirstMessageMs: setting(
      int({ minimum: 10 }),
      5000,
      'a TCP peer must send its first whole message within this (ms), else it is closed',
      'SIPDISP_TCP_FIRST_MESSAGE_MS',
    ),
    tcpHandoffChannel: setting(
      Type.Boolean(),
      true,
      'pass accepted TCP connections to workers over a socket of our own (one sendmsg, no ACK back), on by default; ' +
        "false: over Node's IPC channel (child.send, a NODE_HANDLE_ACK per connection), as node:cluster does",
      'SIPDISP_TCP_HANDOFF_CHANNEL',
    ),
    tcpIdleMs: setting(
      int({ minimum: 1000 }),
      300_000,
      'a handed-off TCP connection idle this long (ms) is closed by its worker',
      'SIPDISP_TCP_IDLE_MS',
    ),
    bindingIdleMs: setting(
      int({ minimum: 100 }),
      32_000,
      'a routing binding with no dialog lives this long unused (ms): 64*T1, the transaction timeout',
      'SIPDISP_BINDING_IDLE_MS',
    ),
    drainTimeoutMs: setting(
      int({ minimum: 0 }),
      30_000,
      'on SIGTERM or a worker drain, dialogs may finish for this long (ms), then the workers stop',
      'SIPDISP_DRAIN_TIMEOUT_MS',
    ),
    workerStartTimeoutMs: setting(
      int({ minimum: 100 }),
      10_000,
      'a forked worker must be ready within this (ms), else it is killed (start fails if it was an initial one)',
      'SIPDISP_WORKER_START_TIMEOUT_MS',
    ),
    t1Ms: setting(
      int({ minimum: 10, maximum: 10_000 }),
      500,
      'RFC 3261 T1 in the workers (ms)',
      'SIPDISP_T1_MS',
    ),
    answerDelayMs: setting(
      int({ minimum: 0, maximum: 60_000 }),
      0,
      'workers wait this long (ms) between 180 and 200; 0 answers at once',
      'SIPDISP_ANSWER_DELAY_MS',
    ),
    dialogIdleMs: setting(
      int({ minimum: 1000 }),
      4 * 3600_000,
      'a confirmed dialog with no request in it for this long (ms) ends (a vanished peer leaks nothing)',
      'SIPDISP_DIALOG_IDLE_MS',
    ),
    maxDialogsPerWorker: setting(
      int({ minimum: 1 }),
      20_000,
      'new dialogs past this many in one worker get 503 with Retry-After',
      'SIPDISP_MAX_DIALOGS_PER_WORKER',
    ),
    maxDialogsPerSource: setting(
      int({ minimum: 1 }),
      1_000,
      'new dialogs past this many from one source address (per worker) get 503 with Retry-After',
      'SIPDISP_MAX_DIALOGS_PER_SOURCE',
    ),
    newCallsPerWorkerPerS: setting(
      int({ minimum: 0 }),
      2_000,
      'overload control: new calls per second per ready worker past which the primary answers 503 (0: off)',
      'SIPDISP_NEW_CALLS_PER_WORKER_PER_S',
    ),
    noRinging: setting(
      Type.Boolean(),
      false,
      'workers answer 100 then 200, without 180 (benchmarks behind reordering proxies)',
      'SIPDISP_NO_RINGING',
    ),
    innerAddress: setting(
      Type.String(),
      '',
      'POP vxlan mode (C10): also bind UDP on this address and the first --listen port; what arrives there came ' +
        'through the tunnel and is handled here, never forwarded again (replies leave from the --listen socket)',
      'SIPDISP_INNER_ADDRESS',
    ),
    steering: setting(
      Type.Boolean(),
      true,
      'kernel steering, on by default (--steering=false, --no-steering or SIPDISP_STEERING=false turns it off): a peer routed to one worker long ' +
        'enough gets its own connected UDP socket in that worker, so its datagrams skip the primary; never on a ' +
        'wildcard address; puts SO_REUSEADDR on the UDP service socket (see docs/host-dispatcher.md)',
      'SIPDISP_STEERING',
    ),
    runtimeDir: setting(
      Type.String(),
      '',
      'directory for the worker seqpacket socket; empty: a fresh one under the OS temp dir',
      'SIPDISP_RUNTIME_DIR',
    ),
  }),
  examples: [
    'host-dispatcher --listen 127.0.0.1:5060 --min-workers 2 --control-port 8060 --control-token s3cret',
    'sipp -sn uac 127.0.0.1:5060 -s conf-7 -m 10 -r 5 -nostdin',
  ],
});

export type DispatcherConfig = Static<typeof DispatcherSettings.schema>;

/** The defaults, as the settings declare them. */
export const DISPATCHER_DEFAULTS: Readonly<DispatcherConfig> = DispatcherSettings.defaults;

export interface ListenAddress {
  host: string;
  port: number;
}

/** Cross-field rules the schema cannot say; throws ConfigError / DSP_ERR_BAD_LISTEN. */
function checkConfig(cfg: Readonly<DispatcherConfig>): Readonly<DispatcherConfig> {
  if (cfg.maxWorkers < cfg.minWorkers) {
    throw new ConfigError('maxWorkers', `must be >= minWorkers (${cfg.minWorkers})`);
  }
  for (const l of cfg.listen) parseListen(l);
  if (cfg.innerAddress !== '' && net.isIP(cfg.innerAddress) === 0)
    throw new ConfigError('innerAddress', `must be an IP address, got ${JSON.stringify(cfg.innerAddress)}`);
  return cfg;
}

/** Validates a config built in code once (typed error naming the field), checks cross-field rules, frozen. */
export function parseDispatcherConfig(input: unknown): Readonly<DispatcherConfig> {
  return checkConfig(DispatcherSettings.parse(input));
}

/** Flags > env > defaults, validated and frozen; or the `--help` text. */
export function loadDispatcherConfig(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): { help: true; text: string } | { help: false; config: Readonly<DispatcherConfig> } {
  const r = DispatcherSettings.load(argv, env);
  return r.help ? r : { help: false, config: checkConfig(r.config) };
}

/** `127.0.0.1:5060`, `[::1]:5060` → host and port; throws DSP_ERR_BAD_LISTEN. */
export function parseListen(s: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(s.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new DispatcherError(
      'DSP_ERR_BAD_LISTEN',
      `invalid listen address ${JSON.stringify(s)} (want host:port)`,
    );
  }
  return { host: (m[1] ?? m[2])!, port };
}
