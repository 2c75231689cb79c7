/**
 * The pop-router's end of the link to its host's dispatcher: a SOCK_SEQPACKET client that says hello as `pop`,
 * reconnects after `retryMs` whenever the dispatcher is absent or restarts, and reports each (re)connection so the
 * router sends a fresh snapshot. Decoding is total; bad frames are counted.
 */
import { SeqpacketSocket } from 'node-unix-socket';
import { silentLogger, systemClock, type Clock, type Logger, type TimerHandle } from '@switchyard/core';
import {
  decodeDispatcherMessage,
  encodeLinkFrame,
  LINK_FRAME_TABLE,
  type DispatcherToRouter,
  type RouterToDispatcher,
} from '@switchyard/pop-wire';

/** The dispatcher's FRAME_HELLO and the hello text of a POP router. */
const FRAME_HELLO = 3;
const POP_HELLO = 'pop';

export interface DispatcherLinkHandlers {
  connected(): void;
  disconnected(): void;
  message(m: DispatcherToRouter): void;
  bad(): void;
}

export class DispatcherLink {
  private sock: SeqpacketSocket | undefined;
  private up = false;
  private timer: TimerHandle | undefined;
  private stopped = false;
  private readonly clock: Clock;
  private readonly logger: Logger;

  constructor(
    components: { clock?: Clock; logger?: Logger; handlers: DispatcherLinkHandlers },
    private readonly init: { path: string; retryMs: number; readBufferBytes: number },
  ) {
    this.clock = components.clock ?? systemClock;
    this.logger = components.logger ?? silentLogger;
    this.handlers = components.handlers;
  }
  private readonly handlers: DispatcherLinkHandlers;

  get connected(): boolean {
    return this.up;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    const s = this.sock;
    this.sock = undefined;
    this.up = false;
    if (s) setImmediate(() => s.destroy());
  }

  /** Sends one table message; false when not connected (the next connection starts with a snapshot anyway). */
  send(msg: RouterToDispatcher): boolean {
    return this.write(encodeLinkFrame(LINK_FRAME_TABLE, msg));
  }

  /** Writes a raw frame (injected datagrams); false when not connected or the write failed. */
  write(frame: Buffer, length = frame.length): boolean {
    if (!this.up || !this.sock) return false;
    try {
      this.sock.write(frame, 0, length);
      return true;
    } catch {
      this.drop();
      return false;
    }
  }

  private connect(): void {
    if (this.stopped) return;
    const s = new SeqpacketSocket();
    s.setInternalReadBufferSize(this.init.readBufferBytes);
    this.sock = s;
    s.on('error', () => this.drop(s));
    s.on('end', () => this.drop(s));
    s.on('close', () => this.drop(s));
    s.on('data', (buf: Buffer) => {
      const m = decodeDispatcherMessage(buf);
      if (m) this.handlers.message(m);
      else this.handlers.bad();
    });
    try {
      s.connect(this.init.path, () => {
        if (this.sock !== s) return;
        s.write(Buffer.concat([Buffer.from([FRAME_HELLO]), Buffer.from(POP_HELLO, 'latin1')]));
        this.up = true;
        this.logger.info({ path: this.init.path }, 'connected to the dispatcher');
        this.handlers.connected();
      });
    } catch {
      // no dispatcher listening yet (or a stale socket file): try again later
      this.drop(s);
    }
  }

  private drop(s: SeqpacketSocket | undefined = this.sock): void {
    if (!s || s !== this.sock) return;
    this.sock = undefined;
    const was = this.up;
    this.up = false;
    // never destroy inside a data/error handler (node-unix-socket aborts): defer
    setImmediate(() => s.destroy());
    if (was) {
      this.logger.warn('dispatcher link lost; reconnecting');
      this.handlers.disconnected();
    }
    if (!this.stopped) this.timer = this.clock.setTimeout(() => this.connect(), this.init.retryMs);
  }
}
