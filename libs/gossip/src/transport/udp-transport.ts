/**
 * UDP transports on Node's dgram: unicast fan-out (a broadcast becomes one datagram per member; for networks without
 * multicast and for loopback) and multicast (one datagram to a group; unicast still used for probes and replies).
 */
import dgram from 'node:dgram';
import { silentLogger, type Logger } from '@switchyard/core';
import { GossipError } from '../errors.js';
import { parseAddress, type DatagramHandler, type Transport } from './transport.js';

export interface UdpTransportComponents {
  logger?: Logger;
}

export interface UdpUnicastInit {
  /** Address to bind, e.g. `127.0.1.1`. */
  host: string;
  /** Port to bind; 0 picks a free one (read {@link Transport.localAddress} after start). */
  port: number;
}

export interface UdpMulticastInit {
  /** Multicast group, e.g. `239.255.77.1`. */
  group: string;
  /** Port shared by every member of the group. */
  port: number;
  /** Address of the interface to send and receive the group on; also the advertised host. */
  interfaceAddress: string;
  /** Multicast TTL: 1 keeps the group on the local link. Default 1. */
  ttl?: number;
  /** Whether our own multicast comes back to us (the node drops it anyway). Default false. */
  loopback?: boolean;
}

export interface UdpTransportStats {
  sendErrors: number;
  badAddresses: number;
}

abstract class UdpTransportBase implements Transport {
  abstract readonly multicast: boolean;
  readonly udpStats: UdpTransportStats = { sendErrors: 0, badAddresses: 0 };
  protected socket: dgram.Socket | undefined;
  protected boundAddress = '';
  private readonly addrCache = new Map<string, { host: string; port: number } | null>();
  protected readonly logger: Logger;

  constructor(components: UdpTransportComponents) {
    this.logger = components.logger ?? silentLogger;
  }

  get localAddress(): string {
    return this.boundAddress;
  }

  abstract start(onDatagram: DatagramHandler): Promise<void>;

  abstract broadcast(bytes: Uint8Array): void;

  send(to: string, bytes: Uint8Array): void {
    const s = this.socket;
    if (!s) return;
    let a = this.addrCache.get(to);
    if (a === undefined) {
      a = parseAddress(to) ?? null;
      // bounded: addresses come from authenticated members, but keep a ceiling anyway
      if (this.addrCache.size > 4096) this.addrCache.clear();
      this.addrCache.set(to, a);
    }
    if (!a) {
      this.udpStats.badAddresses++;
      return;
    }
    this.rawSend(s, bytes, a.port, a.host);
  }

  private pending = 0;
  private drained: (() => void) | undefined;
  private readonly onSent = (err: Error | null) => {
    if (err) this.udpStats.sendErrors++;
    if (--this.pending === 0 && this.drained) this.drained();
  };

  protected rawSend(s: dgram.Socket, bytes: Uint8Array, port: number, host: string): void {
    try {
      this.pending++;
      s.send(bytes, port, host, this.onSent);
    } catch {
      // a closed socket or an invalid host: counted like a lost datagram
      this.pending--;
      this.udpStats.sendErrors++;
    }
  }

  protected bind(
    s: dgram.Socket,
    port: number,
    host: string | undefined,
    onDatagram: DatagramHandler,
  ): Promise<void> {
    s.on('message', (msg, rinfo) => onDatagram(msg, `${rinfo.address}:${rinfo.port}`));
    return new Promise((resolve, reject) => {
      const onError = (err: Error) =>
        reject(
          new GossipError('GSP_ERR_TRANSPORT', `cannot bind udp ${host ?? '*'}:${port}: ${err.message}`, {
            cause: err,
          }),
        );
      s.once('error', onError);
      s.bind({ port, address: host, exclusive: true }, () => {
        s.off('error', onError);
        s.on('error', (err) => this.logger.warn({ err }, 'gossip udp socket error'));
        resolve();
      });
    });
  }

  /** Closes the socket once the datagrams already handed to it are sent (a leave must get out). */
  async stop(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    if (!s) return;
    if (this.pending > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

/** Unicast fan-out: `broadcast` is not offered; the node sends one datagram per live member instead. */
export class UdpUnicastTransport extends UdpTransportBase {
  readonly multicast = false;

  constructor(
    components: UdpTransportComponents,
    private readonly init: UdpUnicastInit,
  ) {
    super(components);
  }

  async start(onDatagram: DatagramHandler): Promise<void> {
    if (this.socket) throw new GossipError('GSP_ERR_STATE', 'transport already started');
    const s = dgram.createSocket({ type: 'udp4' });
    await this.bind(s, this.init.port, this.init.host, onDatagram);
    this.socket = s;
    this.boundAddress = `${this.init.host}:${s.address().port}`;
  }

  broadcast(_bytes: Uint8Array): void {
    throw new GossipError('GSP_ERR_TRANSPORT', 'unicast transport has no broadcast; the node fans out');
  }
}

/** Multicast: joins `group` on `interfaceAddress`; a broadcast is one datagram to group:port. */
export class UdpMulticastTransport extends UdpTransportBase {
  readonly multicast = true;

  constructor(
    components: UdpTransportComponents,
    private readonly init: UdpMulticastInit,
  ) {
    super(components);
  }

  async start(onDatagram: DatagramHandler): Promise<void> {
    if (this.socket) throw new GossipError('GSP_ERR_STATE', 'transport already started');
    const { group, port, interfaceAddress } = this.init;
    // reuseAddr: several processes of one host may join the same group and port
    const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    s.on('message', () => undefined);
    await new Promise<void>((resolve, reject) => {
      s.once('error', (err) =>
        reject(
          new GossipError('GSP_ERR_TRANSPORT', `cannot bind multicast port ${port}: ${err.message}`, {
            cause: err,
          }),
        ),
      );
      s.bind(port, () => resolve());
    });
    try {
      s.addMembership(group, interfaceAddress);
      s.setMulticastInterface(interfaceAddress);
      s.setMulticastTTL(this.init.ttl ?? 1);
      s.setMulticastLoopback(this.init.loopback ?? false);
    } catch (err) {
      s.close();
      throw new GossipError(
        'GSP_ERR_TRANSPORT',
        `cannot join ${group} on ${interfaceAddress}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    s.removeAllListeners('error');
    s.on('error', (err) => this.logger.warn({ err }, 'gossip multicast socket error'));
    s.removeAllListeners('message');
    s.on('message', (msg, rinfo) => onDatagram(msg, `${rinfo.address}:${rinfo.port}`));
    this.socket = s;
    this.boundAddress = `${interfaceAddress}:${port}`;
  }

  broadcast(bytes: Uint8Array): void {
    if (this.socket) this.rawSend(this.socket, bytes, this.init.port, this.init.group);
  }
}
