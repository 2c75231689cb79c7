/**
 * One SIP worker listening directly on its own address, with no primary: the baseline "(a) single worker" of the
 * benchmark, the backends Kamailio dispatches to, and (under node:cluster) the TCP hand-off baseline.
 */
import { conferenceOfUri } from '@switchyard/affinity';
import dgram from 'node:dgram';
import net from 'node:net';
import { SystemClock, type Startable } from '@switchyard/core';
import { parseSipMessage } from '../sip/message.js';
import { StreamFramer } from '../sip/framing.js';
import { SipUas, type Peer, type UasInit } from '../worker/uas.js';

export interface StandaloneInit {
  host: string;
  port: number;
  udp?: boolean;
  tcp?: boolean;
  uas?: UasInit;
  maxMessageBytes?: number;
}

export class StandaloneSipServer implements Startable {
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private readonly conns = new Map<number, net.Socket>();
  private nextConn = 1;
  private readonly uas: SipUas;
  private readonly maxBytes: number;
  /** Dialogs up right now. */
  dialogs = 0;

  constructor(private readonly init: StandaloneInit) {
    this.maxBytes = init.maxMessageBytes ?? 16384;
    this.uas = new SipUas(
      {
        clock: new SystemClock(),
        send: (bytes, to) => this.transmit(bytes, to),
        localAddress: () => ({ address: init.host, port: init.port }),
        events: {
          // no primary to tell: a standalone worker only counts
          dialogOpened: () => void this.dialogs++,
          dialogClosed: () => void this.dialogs--,
        },
      },
      init.uas,
    );
  }

  get port(): number {
    return this.init.port;
  }

  async start(): Promise<void> {
    if (this.init.udp !== false) {
      const udp = dgram.createSocket(net.isIPv6(this.init.host) ? 'udp6' : 'udp4');
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(this.init.port, this.init.host, () => resolve());
      });
      try {
        udp.setRecvBufferSize(4 * 1024 * 1024);
      } catch {
        // capped by the kernel
      }
      udp.on('message', (msg, r) =>
        this.onMessage(msg, { transport: 'udp', address: r.address, port: r.port, local: 0 }, false),
      );
      this.udp = udp;
    }
    if (this.init.tcp !== false) {
      const tcp = net.createServer({ noDelay: true }, (sock) => this.onConnection(sock));
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(this.init.port, this.init.host, 511, () => resolve());
      });
      this.tcp = tcp;
    }
  }

  async stop(): Promise<void> {
    this.uas.shutdown();
    this.udp?.close();
    for (const c of this.conns.values()) c.destroy();
    await new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r()));
  }

  private onConnection(sock: net.Socket): void {
    const id = this.nextConn++;
    this.conns.set(id, sock);
    const framer = new StreamFramer(this.maxBytes);
    const peer: Peer = {
      transport: 'tcp',
      address: sock.remoteAddress ?? '',
      port: sock.remotePort ?? 0,
      local: 0,
      conn: id,
    };
    sock.on('data', (chunk) => {
      framer.push(chunk);
      for (;;) {
        const next = framer.next();
        if (next === undefined) return;
        if (!Buffer.isBuffer(next)) {
          sock.destroy();
          return;
        }
        this.onMessage(next, peer, true);
      }
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => this.conns.delete(id));
  }

  private onMessage(bytes: Buffer, peer: Peer, stream: boolean): void {
    try {
      const r = parseSipMessage(bytes, { stream, maxBytes: this.maxBytes });
      if (!r.ok) {
        if (r.partial)
          this.uas.rejectMalformed(r.partial, peer, r.error === 'too-large' ? 513 : 400, r.error);
        return;
      }
      // no primary in front: the conference by the same URI grammar the primary would route by
      if (r.message.kind === 'request') this.uas.onRequest(r.message, peer, conferenceOfUri(r.message.uri));
      else this.uas.onResponse(r.message, peer);
    } catch {
      // one bad message must not stop the server
    }
  }

  private transmit(bytes: Buffer, to: Peer): void {
    if (to.transport === 'tcp') {
      const c = to.conn === undefined ? undefined : this.conns.get(to.conn);
      if (c && !c.destroyed) c.write(bytes);
    } else {
      this.udp?.send(bytes, to.port, to.address);
    }
  }
}
