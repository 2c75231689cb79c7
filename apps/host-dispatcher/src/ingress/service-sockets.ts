/** Binds one SIP service address: a UDP socket and a TCP server on the same port. */
import dgram from 'node:dgram';
import net from 'node:net';
import type { ListenAddress } from '../config.js';
import { DispatcherError } from '../errors.js';

export interface ServiceSockets {
  readonly listen: ListenAddress;
  readonly udp: dgram.Socket;
  readonly tcp: net.Server;
}

export const SERVICE_SOCKET_DEFAULTS = {
  /** Port 0: the kernel picks a UDP port and TCP must get the same one; tries before giving up. */
  bindAttempts: 10,
  /** UDP receive buffer (bytes): absorbs bursts while the primary is busy; the kernel caps it at rmem_max. */
  udpRecvBufferBytes: 4 * 1024 * 1024,
  /** TCP accept backlog. */
  tcpBacklog: 511,
} as const;

/** Binds UDP then TCP on the same port; with port 0 retries when TCP finds the port taken. Throws DSP_ERR_BIND. */
export async function bindServiceAddress(
  listen: ListenAddress,
  opts: { reuseAddr?: boolean } = {},
): Promise<ServiceSockets> {
  const attempts = listen.port === 0 ? SERVICE_SOCKET_DEFAULTS.bindAttempts : 1;
  for (let i = 1; ; i++) {
    try {
      return await bindOnce(listen, opts.reuseAddr ?? false);
    } catch (err) {
      if (i >= attempts) throw err;
    }
  }
}

/**
 * `reuseAddr`: kernel steering's workers bind connected sockets to the same address and port, which the kernel
 * allows only when every socket on it has SO_REUSEADDR (the TCP listener, bound right after on the same port and
 * never shared, still fails if another dispatcher holds the port).
 */
async function bindOnce(listen: ListenAddress, reuseAddr: boolean): Promise<ServiceSockets> {
  const type = net.isIPv6(listen.host) ? 'udp6' : 'udp4';
  const udp = dgram.createSocket({ type, reuseAddr });
  await new Promise<void>((resolve, reject) => {
    udp.once('error', (err) =>
      reject(
        new DispatcherError('DSP_ERR_BIND', `cannot bind udp ${listen.host}:${listen.port}: ${err.message}`),
      ),
    );
    udp.bind(listen.port, listen.host, () => resolve());
  });
  // SIP over TCP uses the same port as UDP
  const port = udp.address().port;
  const tcp = net.createServer({ noDelay: true, pauseOnConnect: false });
  try {
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', (err) =>
        reject(new DispatcherError('DSP_ERR_BIND', `cannot bind tcp ${listen.host}:${port}: ${err.message}`)),
      );
      tcp.listen(port, listen.host, SERVICE_SOCKET_DEFAULTS.tcpBacklog, () => resolve());
    });
  } catch (err) {
    udp.close();
    throw err;
  }
  try {
    udp.setRecvBufferSize(SERVICE_SOCKET_DEFAULTS.udpRecvBufferBytes);
  } catch {
    // the kernel cap (net.core.rmem_max) applies; the default is enough at low rates
  }
  return { listen: { host: listen.host, port }, udp, tcp };
}
