/**
 * A private redis-server for one test file: its own port, its own temporary dir, no persistence, stopped by pid.
 * Keyspace notifications for expiry are on (`Ex`), as the registry's expiry events need them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { freePort } from './ports.js';
import { spawnProcess, type Spawned } from './processes.js';
import { waitFor } from './wait.js';

export interface TestRedis {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  /** SIGKILL the server (to test recovery); {@link restart} brings it back on the same port, empty. */
  kill(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export function redisServerPath(): string {
  for (const p of [process.env['REDIS_SERVER'], '/usr/bin/redis-server', '/usr/local/bin/redis-server']) {
    if (p && fs.existsSync(p)) return p;
  }
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('redis-server not found: run `npm run setup` (installs the Debian package redis-server)');
  }
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

/** The arguments of a private, non-persistent redis-server in the foreground on `host:port` with its files in `dir`. */
export function redisServerArgs(host: string, port: number, dir: string, extra: string[] = []): string[] {
  return [
    '--port',
    String(port),
    '--bind',
    host,
    '--save',
    '',
    '--appendonly',
    'no',
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

export async function startRedis(opts: { host?: string; port?: number } = {}): Promise<TestRedis> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? (await freePort(host));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-redis-'));
  const bin = redisServerPath();
  let proc: Spawned;
  const launch = async () => {
    proc = spawnProcess(bin, redisServerArgs(host, port, dir, ['--notify-keyspace-events', 'Ex']));
    await waitFor(
      `redis-server on ${host}:${port} (output: ${proc.output().slice(-500)})`,
      () => ping(host, port),
      {
        timeoutMs: 10_000,
      },
    );
  };
  await launch();
  return {
    host,
    port,
    url: `redis://${host}:${port}`,
    get pid() {
      return proc.pid;
    },
    kill: () => proc.kill9(),
    restart: launch,
    async stop() {
      await proc.stop(3000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
