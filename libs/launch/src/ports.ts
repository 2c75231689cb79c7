/**
 * Ports for processes under test. A port picked here is free only until someone else binds it, so a process that is
 * given one can lose the race under load (`listen EADDRINUSE`); {@link onFreePort} retries such a start on another
 * port. Code that binds in-process should bind port 0 and read the port back instead.
 *
 * Picked ports come from below the kernel's ephemeral range (`net.ipv4.ip_local_port_range`, 32768–60999 by
 * default), not from a bind to port 0: a port in the ephemeral range can be taken meanwhile as the source port of
 * any client connection on the machine (a Redis client of a test running alongside), and held for as long as that
 * connection lives, so a process restarted on the same port fails every time. Below the range only listeners
 * compete, and those pick at random.
 */
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import { LaunchError, isLaunchError } from './errors.js';

export const PORT_DEFAULTS = {
  /** The lowest port picked: above the well-known and the usual service ports (Redis 6379, SIP 5060, 8080 …). */
  lowest: 10_000,
  /** Random candidates probed below the ephemeral range before falling back to a bind to port 0. */
  attempts: 50,
} as const;

/** The ports picked from, `[lowest, highest]`, or undefined when the ephemeral range leaves no room below it. */
export function pickablePorts(
  ephemeral = '/proc/sys/net/ipv4/ip_local_port_range',
): [number, number] | undefined {
  let low = 32_768;
  try {
    const first = Number(fs.readFileSync(ephemeral, 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(first) && first > 0) low = first;
  } catch {
    // not Linux: the IANA ephemeral range starts at 49152, so the default above is below it too
  }
  const highest = low - 1;
  return highest - PORT_DEFAULTS.lowest >= 1_000 ? [PORT_DEFAULTS.lowest, highest] : undefined;
}

const PICKABLE = pickablePorts();

/**
 * A TCP port that was free on `host` a moment ago: a random one below the ephemeral range that a listener could
 * bind just now, or (if none of {@link PORT_DEFAULTS.attempts} could, or there is no such range) one the kernel gave
 * for a bind to port 0.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  if (PICKABLE) {
    const [lowest, highest] = PICKABLE;
    for (let i = 0; i < PORT_DEFAULTS.attempts; i++) {
      const port = crypto.randomInt(lowest, highest + 1);
      if (await tcpPortFree(port, host)) return port;
    }
  }
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
    // a range that starts below the ephemeral range stays below it
    if (PICKABLE && base <= PICKABLE[1] && base + count - 1 > PICKABLE[1]) continue;
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
