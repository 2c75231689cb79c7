/**
 * The local POP router's link over the primary's seqpacket socket (it says hello `pop` instead of a worker id): it
 * sends FRAME_INJECTED frames for datagrams that reached another host and were encapsulated to us, and receives a
 * FRAME_SESSION frame for every session opened or closed here.
 */
import type { SeqpacketSocket } from 'node-unix-socket';
import type { Logger } from '@switchyard/core';
import { FRAME_FIXED, FRAME_INJECTED, FRAME_MAX_ADDR, FRAME_SESSION, readFrameHeader } from '../ipc.js';
import type { DispatcherMetrics } from '../metrics.js';
import type { SessionEvent } from '../session-host.js';

export interface PopLinkComponents {
  logger: Logger;
  metrics: DispatcherMetrics;
  /** An injected datagram, to be routed as if it arrived on service address `local`. */
  inject(payload: Buffer, from: { address: string; port: number }, local: number): void;
  /** Any other frame from the router (its table: snapshot and deltas, `@switchyard/pop-wire`). */
  routerFrame?(frame: Buffer): void;
  /** A router said hello (it then expects what we hold, to re-claim it). */
  routerConnected?(): void;
}

export class PopLink {
  private readonly conns = new Set<SeqpacketSocket>();

  constructor(
    private readonly c: PopLinkComponents,
    private readonly init: { maxMessageBytes: number },
  ) {}

  get connected(): number {
    return this.conns.size;
  }

  adopt(sock: SeqpacketSocket): void {
    this.conns.add(sock);
    // the default read buffer would truncate a full-size datagram
    sock.setInternalReadBufferSize(FRAME_FIXED + FRAME_MAX_ADDR + 2 * this.init.maxMessageBytes);
    const forget = () => this.conns.delete(sock);
    sock.on('end', forget);
    sock.on('close', forget);
    sock.on('error', forget);
    sock.on('data', (frame: Buffer) => {
      if (frame[0] !== FRAME_INJECTED && this.c.routerFrame) return this.c.routerFrame(frame);
      const h = readFrameHeader(frame);
      if (!h || h.type !== FRAME_INJECTED) {
        this.c.metrics.malformed.inc({ where: 'primary', reason: 'pop-frame' });
        return;
      }
      this.c.inject(frame.subarray(h.payloadOffset), { address: h.address, port: h.port }, h.local);
    });
    this.c.logger.info('POP router connected');
    this.c.routerConnected?.();
  }

  publish(event: 'sessionOpened' | 'sessionClosed', e: SessionEvent): void {
    if (this.conns.size === 0) return;
    this.send(Buffer.concat([Buffer.from([FRAME_SESSION]), Buffer.from(JSON.stringify({ event, ...e }))]));
  }

  /** Sends one frame to every connected router. */
  send(frame: Buffer): void {
    for (const c of this.conns) {
      try {
        c.write(frame);
      } catch {
        this.conns.delete(c);
      }
    }
  }
}
