/**
 * How gossip datagrams move. Three implementations share this interface and one compliance suite: UDP unicast
 * fan-out, UDP multicast, and the in-memory simulated network.
 */

export type DatagramHandler = (bytes: Uint8Array, from: string) => void;

export interface Transport {
  /** `host:port` this transport receives on; valid after {@link start}. Advertised to other members. */
  readonly localAddress: string;
  /** True when {@link broadcast} reaches every member with one send (multicast). */
  readonly multicast: boolean;
  /** Binds and starts delivering datagrams to `onDatagram`. Throws `GSP_ERR_TRANSPORT` if it cannot bind. */
  start(onDatagram: DatagramHandler): Promise<void>;
  /** Sends one datagram to `to` (`host:port`). Never throws: a failed send is counted, as a lost datagram would be. */
  send(to: string, bytes: Uint8Array): void;
  /** Sends one datagram to the whole group. Only when {@link multicast} is true. */
  broadcast(bytes: Uint8Array): void;
  stop(): Promise<void>;
}

/** Splits `host:port`; `undefined` when malformed. */
export function parseAddress(addr: string): { host: string; port: number } | undefined {
  const i = addr.lastIndexOf(':');
  if (i <= 0) return undefined;
  const port = Number(addr.slice(i + 1));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return undefined;
  return { host: addr.slice(0, i), port };
}
