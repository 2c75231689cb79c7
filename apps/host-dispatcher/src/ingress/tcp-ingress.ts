/**
 * TCP ingress: reads an accepted connection's first SIP message (bounded in size and time), decides with
 * {@link decideRoute} like a datagram, and hands the whole connection, with the bytes already read, to the chosen
 * worker: over the worker's hand-off channel (`HandoffSender` in handoff-channel.ts, one `sendmsg`, nothing
 * back), else over Node's IPC channel. Refused connections get a stateless 400/503/513 when SIP allows, else are closed.
 *
 * Connections are taken from the listening handle itself, as `node:cluster`'s primary does: the primary never builds
 * a `net.Socket` (stream state, listeners, the server's connection count) for a connection it only passes on, and
 * the handle it sends is not tracked by `net.Server` (which costs one more IPC message per connection: the worker
 * reports every socket it closes). The worker wraps the handle in a `net.Socket`. Only a refused connection, which
 * must be answered, gets a `net.Socket` here.
 */
import net from 'node:net';
import { extractSipKeys } from '@switchyard/affinity';
import type { Clock, RateLimitedLog } from '@switchyard/core';
import { tcpHandoff } from '../ipc.js';
import type { DispatcherMetrics } from '../metrics.js';
import type { HandoffTarget } from '../pool/worker-processes.js';
import type { AffinityRouter } from '../primary/router.js';
import { frameMessage } from '../sip/framing.js';
import { decideRoute } from './routing.js';
import { answerableRequest, statelessResponse } from './stateless-reply.js';

export interface TcpIngressComponents {
  clock: Clock;
  router: AffinityRouter;
  metrics: DispatcherMetrics;
  badInput: RateLimitedLog;
  /** Where the worker takes a connection if it can take one now (ready, IPC up), else undefined. */
  workerFor(id: string): HandoffTarget | undefined;
  newConference(): void;
}

export interface TcpIngressInit {
  maxMessageBytes: number;
  /** A peer must finish its first message within this (ms), else it is closed. */
  tcpFirstMessageMs: number;
}

type Refusal = 'timeout' | 'too-large' | 'bad-content-length' | 'no-worker' | 'closed' | 'malformed';

/**
 * The JavaScript face of libuv's TCP handle (Node's `tcp_wrap`), the object `net.Server` and `node:cluster` work
 * with. Node has no public API for it; these members are what `net` itself calls.
 */
export interface RawTcpHandle {
  onread: (this: RawTcpHandle, buf: ArrayBuffer | undefined) => void;
  onconnection: ((err: number, client: RawTcpHandle | undefined) => void) | null;
  readStart(): number;
  readStop(): number;
  setNoDelay(on: boolean): number;
  close(cb?: () => void): void;
}

/** Where libuv's read callback leaves the byte count and the offset in the buffer (Node's `stream_wrap` state). */
const streamWrap = (process as unknown as { binding(name: 'stream_wrap'): StreamWrapBinding }).binding(
  'stream_wrap',
);
interface StreamWrapBinding {
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
}
const { streamBaseState, kReadBytesOrError, kArrayBufferOffset } = streamWrap;

const ignoreRead = (): void => undefined;

/** The listening handle of a bound `net.Server` (after `listen`). */
export function listeningHandle(server: net.Server): RawTcpHandle {
  const handle = (server as unknown as { _handle?: RawTcpHandle | null })._handle;
  if (!handle) throw new Error('the TCP server is not listening');
  return handle;
}

export class TcpIngress {
  constructor(
    private readonly c: TcpIngressComponents,
    private readonly init: TcpIngressInit,
  ) {}

  /**
   * Takes the connections of a listening server: its handle's accept callback is replaced, so `server` emits no
   * `'connection'` (its `close()` still stops listening). `onAcceptError` gets accept failures (e.g. EMFILE).
   */
  attach(server: net.Server, local: number, onAcceptError: (errno: number) => void): void {
    const listening = listeningHandle(server);
    // TCP_NODELAY once, on the listening socket: Linux copies it into every connection accepted from it (the kernel
    // clones the listener's TCP state), so no `setsockopt` per connection here or in the worker
    listening.setNoDelay(true);
    listening.onconnection = (err, client) => {
      if (err || !client) return onAcceptError(err);
      this.onHandle(client, local);
    };
  }

  /** A connection accepted on service address `local`: read its first message, then hand it off or refuse it. */
  onHandle(handle: RawTcpHandle, local: number): void {
    let buf: Buffer | undefined;
    let done = false;
    const timer = this.c.clock.setTimeout(() => refuse('timeout'), this.init.tcpFirstMessageMs);
    const settle = () => {
      done = true;
      this.c.clock.clearTimeout(timer);
      handle.readStop();
      // the handle's read callback must stay a function (Node asserts it)
      handle.onread = ignoreRead;
    };
    const refuse = (reason: Refusal) => {
      if (done) return;
      settle();
      this.refuse(handle, buf ?? Buffer.alloc(0), reason);
    };
    handle.onread = (ab) => {
      if (done) return;
      const nread = streamBaseState[kReadBytesOrError]!;
      // nread < 0: end of stream or an error before the first message was whole
      if (nread < 0 || ab === undefined) return refuse('closed');
      if (nread === 0) return;
      // the buffer is this read's own (libuv allocates one per read), so a view of it is safe to keep
      const chunk = Buffer.from(ab, streamBaseState[kArrayBufferOffset]!, nread);
      buf = buf ? Buffer.concat([buf, chunk]) : chunk;
      const f = frameMessage(buf, this.init.maxMessageBytes);
      if (f.kind === 'incomplete') {
        this.c.metrics.tcpPartialReads.inc();
        return;
      }
      if (f.kind === 'error') return refuse(f.reason);
      const first = buf.subarray(f.start, f.start + f.length);
      const keys = extractSipKeys(first, { maxBytes: this.init.maxMessageBytes });
      if (!keys.ok) return refuse('malformed');
      let worker: string | undefined;
      let newConference = false;
      try {
        const d = decideRoute(
          this.c.router,
          keys.keys,
          { payload: first, address: '', port: 0, local, transport: 'tcp', injected: false },
          undefined,
        );
        if (d.kind === 'worker') ({ worker, newConference } = d);
      } catch {
        worker = undefined;
      }
      const target = worker === undefined ? undefined : this.c.workerFor(worker);
      if (!target) return refuse('no-worker');
      // stops reading: everything read so far is in buf and travels with the handle
      settle();
      this.handOff(handle, local, buf, target);
      if (newConference) this.c.newConference();
    };
    const err = handle.readStart();
    if (err) refuse('closed');
  }

  private handOff(handle: RawTcpHandle, local: number, bytes: Buffer, target: HandoffTarget): void {
    const handoff = target.handoff;
    if (handoff) {
      // the worker's own channel (handoff-channel.ts): one write, nothing back; our copy closed once it is written
      handoff.send(handle, local, bytes, (status) => {
        if (status) this.c.metrics.tcpRejected.inc({ reason: 'handoff-failed' });
        handle.close();
      });
      this.c.metrics.handoffs.inc();
      return;
    }
    this.c.metrics.handoffsOverIpc.inc();
    // A raw handle travels as 'net.Native', which Node never closes in the sender (it does for a net.Socket): our
    // descriptor must be closed here, or the connection outlives the worker's close (the peer gets no FIN) and the
    // primary leaks one descriptor per connection. The callback runs once the message is written: the kernel has
    // copied the descriptor into it by then, so closing ours is safe.
    // No peer address here: getpeername costs two syscalls per connection and the worker can ask its own socket.
    target.child.send(tcpHandoff(local, bytes), handle as unknown as net.Socket, (err) => {
      if (err) this.c.metrics.tcpRejected.inc({ reason: 'handoff-failed' });
      handle.close();
    });
    this.c.metrics.handoffs.inc();
  }

  private refuse(handle: RawTcpHandle, buf: Buffer, reason: Refusal): void {
    this.c.metrics.tcpRejected.inc({ reason });
    // only a refused connection becomes a net.Socket here: it may need an answer, and gives the peer for the log
    const sock = new net.Socket({ handle, readable: true, writable: true } as net.SocketConstructorOpts);
    sock.on('error', () => sock.destroy());
    const peer = `${sock.remoteAddress}:${sock.remotePort}`;
    if (reason === 'closed' || reason === 'timeout') {
      sock.destroy();
    } else {
      this.c.metrics.malformed.inc({ where: 'primary', reason: `tcp-${reason}` });
      const req = answerableRequest(buf, this.init.maxMessageBytes);
      const status = reason === 'no-worker' ? 503 : reason === 'too-large' ? 513 : 400;
      if (req) sock.end(statelessResponse(req, status));
      else sock.destroy();
    }
    this.c.badInput.warn({ reason, peer, bytes: buf.length }, 'TCP peer rejected before hand-off');
  }
}
