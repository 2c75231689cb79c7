/**
 * Ports for processes under test. A port picked here is free only until someone else binds it, so a process that is
 * given one can lose the race under load (`listen EADDRINUSE`); {@link onFreePort} retries such a start on another
 * port. Code that binds in-process should bind port 0 and read the port back instead.
 */
import net from 'node:net';
import dgram from 'node:dgram';
import { LaunchError, isLaunchError } from './errors.js';

/** A TCP port that was free on `host` a moment ago (bind to 0, read, close). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A port free for both TCP and UDP on `host` a moment ago (SIP listens on both). */
export async function freeTcpUdpPort(host = '127.0.0.1', attempts = 20): Promise<number> {
  for (let i = 0; i < attempts; i++) {
    const port = await freePort(host);
    const ok = await new Promise<boolean>((resolve) => {
      const s = dgram.createSocket('udp4');
      s.once('error', () => resolve(false));
      s.bind(port, host, () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new LaunchError(
    'LNC_ERR_PORT_IN_USE',
    `no port free for TCP and UDP on ${host} after ${attempts} attempts`,
  );
}

/**
 * The first of `count` consecutive TCP ports that were all free on `host` a moment ago, for processes configured by a
 * base port (`--base-port`, the others follow). Checking only the first would leave its neighbours to chance: any
 * of them can be held by another listener or be a client connection's ephemeral source port.
 */
export async function freePortRange(
  count: number,
  {
    host = '127.0.0.1',
    attempts = 20,
    pick = freePort,
  }: {
    host?: string;
    attempts?: number;
    /** Picks a candidate base (tests inject one). */
    pick?: (host: string) => Promise<number>;
  } = {},
): Promise<number> {
  if (!Number.isInteger(count) || count < 1)
    throw new LaunchError('LNC_ERR_PORT_IN_USE', `a port range needs a count of 1 or more, not ${count}`);
  for (let i = 0; i < attempts; i++) {
    const base = await pick(host);
    if (base + count - 1 > 65535) continue;
    let ok = true;
    for (let p = base; ok && p < base + count; p++) ok = await tcpPortFree(p, host);
    if (ok) return base;
  }
  throw new LaunchError(
    'LNC_ERR_PORT_IN_USE',
    `no ${count} consecutive free TCP ports on ${host} after ${attempts} attempts`,
  );
}

/** Whether a TCP listener could bind `port` on `host` just now. */
async function tcpPortFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** True for a bind that failed because the address was taken: Node's `EADDRINUSE` or a {@link LaunchError}. */
export function isAddressInUse(err: unknown): boolean {
  return (
    isLaunchError(err, 'LNC_ERR_PORT_IN_USE') ||
    (err instanceof Error && (err as NodeJS.ErrnoException).code === 'EADDRINUSE')
  );
}

/**
 * True when a process's output says it could not bind because the address was in use. A child process reports a
 * failed bind only in its output: Node prints the `EADDRINUSE` code, redis-server "Address already in use".
 */
export function outputSaysAddressInUse(output: string): boolean {
  return output.includes('EADDRINUSE') || output.includes('Address already in use');
}

/**
 * Starts something on a free port: picks one (`tcp`, or `tcp+udp` for SIP), calls `start(port)`, and when `start`
 * fails because the port was taken meanwhile ({@link isAddressInUse}), tries again on another port, up to
 * `attempts` times. Any other failure is thrown at once.
 */
export async function onFreePort<T>(
  start: (port: number) => Promise<T>,
  {
    host = '127.0.0.1',
    protocols = 'tcp',
    attempts = 5,
  }: { host?: string; protocols?: 'tcp' | 'tcp+udp'; attempts?: number } = {},
): Promise<T> {
  for (let i = 1; ; i++) {
    const port = protocols === 'tcp' ? await freePort(host) : await freeTcpUdpPort(host);
    try {
      return await start(port);
    } catch (err) {
      if (!isAddressInUse(err) || i >= attempts) throw err;
    }
  }
}
