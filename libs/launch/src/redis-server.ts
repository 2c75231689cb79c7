/**
 * A private redis-server: its own port on loopback, its own directory, started and stopped by pid. The one launcher
 * for tests (`startRedis` of @switchyard/testing), benchmarks and tools.
 *
 * By default it runs as Redis ships (no keyspace notifications: nothing in Switchyard subscribes to them; the
 * registry finds expired leases with its own sweep), without persistence, so a restart comes back empty. With
 * `persistence: 'aof'` every write is fsynced to an append-only file and survives `kill()` + `restart()`, as a
 * production Redis would.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { LaunchError } from './errors.js';
import { onFreePort } from './ports.js';
import { spawnProcess, untilReady, type Spawned } from './processes.js';

export interface RedisServerOptions {
  /** Address to bind (default `127.0.0.1`). */
  host?: string;
  /** A fixed port; by default a free one, tried again on another port if it is taken before redis binds it. */
  port?: number;
  /** `none` (default): nothing written to disk. `aof`: append-only file, fsync on every write. */
  persistence?: 'none' | 'aof';
  /**
   * Directory of the AOF and of anything redis writes: by default a new temporary one (in /dev/shm when there is
   * one and persistence is on, so fsync costs no disk time), removed by `stop()`.
   */
  dir?: string;
  /** More redis-server arguments (`['--notify-keyspace-events', 'Ex']` …). */
  args?: string[];
  /** Bound on the wait for the first PONG, ms (default 10 000). */
  readyTimeoutMs?: number;
}

export interface RedisServer {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** The pid of the current redis-server process (changes on restart). */
  readonly pid: number;
  /** Everything the current process wrote to stdout and stderr. */
  output(): string;
  /** SIGKILL the server (to test recovery); {@link restart} brings it back on the same port. */
  kill(): Promise<void>;
  /** Starts it again on the same port and dir: empty, or with its data when persistence is `aof`. */
  restart(): Promise<void>;
  /** Stops it by pid (SIGTERM, then SIGKILL) and removes a temporary dir. */
  stop(): Promise<void>;
}

/**
 * The redis-server executable: `$REDIS_SERVER`, the Debian path, or the one on PATH.
 * @throws LaunchError `LNC_ERR_NOT_INSTALLED` when there is none.
 */
export function redisServerPath(): string {
  for (const p of [process.env['REDIS_SERVER'], '/usr/bin/redis-server', '/usr/local/bin/redis-server']) {
    if (p && fs.existsSync(p)) return p;
  }
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim();
  } catch {
    throw new LaunchError(
      'LNC_ERR_NOT_INSTALLED',
      'redis-server not found: run `npm run setup` (installs the Debian package redis-server)',
    );
  }
}

/**
 * The arguments of a private redis-server in the foreground on `host:port` with its files in `dir`: nothing saved
 * unless `persistent` (then an AOF with fsync on every write), no protected mode, warnings only, then `extra`.
 */
export function redisServerArgs(
  host: string,
  port: number,
  dir: string,
  extra: string[] = [],
  persistent = false,
): string[] {
  return [
    '--port',
    String(port),
    '--bind',
    host,
    '--save',
    '',
    '--appendonly',
    persistent ? 'yes' : 'no',
    ...(persistent ? ['--appendfsync', 'always'] : []),
    '--dir',
    dir,
    '--daemonize',
    'no',
    '--protected-mode',
    'no',
    '--loglevel',
    'warning',
    ...extra,
  ];
}

function ping(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    let buf = '';
    s.setTimeout(500, () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(false));
    // a peer that closes without answering (not redis) is not ready either; resolving twice is harmless
    s.on('close', () => resolve(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) {
        s.destroy();
        resolve(buf.startsWith('+PONG'));
      }
    });
  });
}

/**
 * Starts a private redis-server and resolves once it answers PING.
 * @throws LaunchError `LNC_ERR_NOT_INSTALLED` (no redis-server), `LNC_ERR_NOT_READY` (it exited or did not answer
 * in time; the message holds its log), `LNC_ERR_PORT_IN_USE` (a fixed `port` was taken).
 */
export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const host = opts.host ?? '127.0.0.1';
  const persistent = opts.persistence === 'aof';
  const ownDir = opts.dir === undefined;
  const base = persistent && fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dir = opts.dir ?? fs.mkdtempSync(path.join(base, 'sy-redis-'));
  const bin = redisServerPath();
  let proc: Spawned | undefined;
  const launch = async (port: number): Promise<void> => {
    proc = spawnProcess(bin, redisServerArgs(host, port, dir, opts.args ?? [], persistent));
    const p = proc;
    try {
      await untilReady(p, `redis-server on ${host}:${port}`, () => ping(host, port), {
        timeoutMs: opts.readyTimeoutMs ?? 10_000,
      });
    } catch (err) {
      await p.stop(1000);
      throw err;
    }
  };
  let port: number;
  try {
    port =
      opts.port ??
      (await onFreePort(
        async (p) => {
          await launch(p);
          return p;
        },
        { host },
      ));
    if (opts.port !== undefined) await launch(opts.port);
  } catch (err) {
    if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    host,
    port,
    url: `redis://${host}:${port}`,
    dir,
    get pid() {
      return proc!.pid;
    },
    output: () => proc?.output() ?? '',
    kill: async () => proc?.kill9(),
    restart: () => launch(port),
    async stop() {
      await proc?.stop(3000);
      if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
