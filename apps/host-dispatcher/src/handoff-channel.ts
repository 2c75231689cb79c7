/**
 * The TCP hand-off channel: a Unix stream socket per worker on which the primary sends each accepted connection's
 * descriptor (`SCM_RIGHTS`, through libuv's IPC pipe) with the bytes it read before the hand-off, in one `sendmsg`.
 *
 * Why not Node's IPC channel (`child.send(msg, handle)`, what `node:cluster` uses): Node sends a handle as a JSON
 * `NODE_HANDLE` message, the receiver answers every one with a `NODE_HANDLE_ACK`, and the sender queues every later
 * message (handles or not) until that ACK is back: per connection one more message each way (a `write` in the
 * worker, a `recvmsg` and a `JSON.parse` in the primary) and one handle in flight per worker. Here nothing comes back:
 * the kernel never glues a message that carries descriptors to the data of another write (a read stops behind it),
 * so the worker pairs descriptors and frames in order, and the primary closes its copy once the write completed.
 *
 * Frame: length of the bytes (4 bytes, big-endian), the service address index (1 byte), the bytes. The string written
 * is latin1 (one char per byte), as libuv's IPC write takes a handle only with a string.
 *
 * The socket pair: Node has no `socketpair`, and only a pipe handle created as IPC can send or receive descriptors
 * (an accepted one never is). So the primary listens on a path once per pair, connects to it with an IPC pipe (its
 * end), and the accepted end is given to the worker at fork as an extra stdio descriptor, which the worker opens as
 * an IPC pipe ({@link HandoffReader}).
 */
import fs from 'node:fs';

/** libuv's pipe handle as Node's `pipe_wrap` gives it (no public API; these members are what `net` calls). */
export interface RawPipe {
  onread: (this: RawPipe, buf: ArrayBuffer | undefined) => void;
  onconnection: ((err: number, client: RawPipe | undefined) => void) | null;
  pendingHandle?: unknown;
  readStart(): number;
  readStop(): number;
  open(fd: number): number;
  bind(path: string): number;
  listen(backlog: number): number;
  connect(req: object, path: string): number;
  writeLatin1String(req: object, s: string, handle?: object): number;
  unref(): void;
  close(cb?: () => void): void;
}

interface PipeWrapBinding {
  Pipe: new (type: number) => RawPipe;
  PipeConnectWrap: new () => { oncomplete: (status: number) => void };
  constants: { SOCKET: number; SERVER: number; IPC: number };
}
interface StreamWrapBinding {
  WriteWrap: new () => { handle: unknown; oncomplete: (status: number) => void; async: boolean };
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  kLastWriteWasAsync: number;
}
const binding = process as unknown as { binding(name: string): unknown };
const pipeWrap = binding.binding('pipe_wrap') as PipeWrapBinding;
const streamWrap = binding.binding('stream_wrap') as StreamWrapBinding;
const { streamBaseState, kReadBytesOrError, kArrayBufferOffset, kLastWriteWasAsync } = streamWrap;

/** Bytes before the frame's payload: length (4), local (1). */
export const HANDOFF_HEADER = 5;

/** The two ends of a fresh hand-off channel: `primary` (IPC, sends), `worker` (to be given to the worker at fork). */
export interface HandoffPair {
  primary: RawPipe;
  worker: RawPipe;
}

/**
 * Makes a connected pair through a listening socket at `sockPath` (removed again before it resolves). Rejects with
 * the libuv error code on a failure.
 */
export function createHandoffPair(sockPath: string): Promise<HandoffPair> {
  return new Promise((resolve, reject) => {
    fs.rmSync(sockPath, { force: true });
    const server = new pipeWrap.Pipe(pipeWrap.constants.SERVER);
    const primary = new pipeWrap.Pipe(pipeWrap.constants.IPC);
    let worker: RawPipe | undefined;
    let connected = false;
    let settled = false;
    const finish = (err?: string) => {
      if (settled) return;
      if (err === undefined && !(worker && connected)) return;
      settled = true;
      server.close();
      fs.rmSync(sockPath, { force: true });
      if (err === undefined) return resolve({ primary, worker: worker! });
      primary.close();
      worker?.close();
      reject(new Error(`hand-off channel: ${err}`));
    };
    let e = server.bind(sockPath);
    if (!e) e = server.listen(1);
    if (e) return finish(`listen on ${sockPath} failed (${e})`);
    server.onconnection = (err, client) => {
      if (err || !client) return finish(`accept failed (${err})`);
      worker = client;
      finish();
    };
    const req = new pipeWrap.PipeConnectWrap();
    req.oncomplete = (status) => {
      if (status) return finish(`connect failed (${status})`);
      connected = true;
      finish();
    };
    e = primary.connect(req, sockPath);
    if (e) finish(`connect failed (${e})`);
  });
}

function header(length: number, local: number): string {
  return String.fromCharCode(length >>> 24, (length >>> 16) & 255, (length >>> 8) & 255, length & 255, local);
}

/** The primary's end: one write per connection, nothing read back. */
export class HandoffSender {
  private closed = false;

  constructor(private readonly pipe: RawPipe) {}

  /**
   * Sends `handle` with `bytes`; `done(status)` (0: written, else a libuv error) runs once the kernel holds the
   * descriptor, after which the caller closes its own copy.
   */
  send(handle: object, local: number, bytes: Buffer, done: (status: number) => void): void {
    if (this.closed) return done(-9); // EBADF
    const req = new streamWrap.WriteWrap();
    req.handle = this.pipe;
    req.async = false;
    req.oncomplete = done;
    const err = this.pipe.writeLatin1String(
      req,
      header(bytes.length, local) + bytes.toString('latin1'),
      handle,
    );
    if (err) return done(err);
    // a write that completed at once has no callback (Node's own writes check the same flag)
    if (!streamBaseState[kLastWriteWasAsync]) done(0);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pipe.close();
  }
}

/** One handed-off connection as the worker reads it. */
export interface HandoffFrame {
  handle: unknown;
  local: number;
  bytes: Buffer;
}

/**
 * Pairs frames and descriptors in order. A descriptor arrives in the read that holds its frame's first bytes (the
 * kernel attaches it to the first part of the write and stops the read behind it), so descriptors queue until their
 * frame is whole. Pure: fed chunks, returns frames.
 */
export class HandoffFrames {
  private buf: Buffer | undefined;
  private readonly handles: unknown[] = [];
  /** Frames that came without a descriptor (a broken sender): counted, dropped. */
  orphans = 0;

  push(chunk: Buffer, handle: unknown): HandoffFrame[] {
    if (handle) this.handles.push(handle);
    const b = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
    this.buf = undefined;
    const out: HandoffFrame[] = [];
    let o = 0;
    while (b.length - o >= HANDOFF_HEADER) {
      const n = b.readUInt32BE(o);
      if (b.length - o < HANDOFF_HEADER + n) break;
      const h = this.handles.shift();
      const bytes = b.subarray(o + HANDOFF_HEADER, o + HANDOFF_HEADER + n);
      if (h) out.push({ handle: h, local: b[o + 4]!, bytes });
      else this.orphans++;
      o += HANDOFF_HEADER + n;
    }
    // keep a copy of a partial frame: the chunk's memory is the read's, not ours to hold across reads
    if (o < b.length) this.buf = Buffer.from(b.subarray(o));
    return out;
  }

  /** Descriptors received whose frame never came whole (the channel closed): for the caller to close. */
  drain(): unknown[] {
    return this.handles.splice(0);
  }
}

/** The worker's end: reads frames and descriptors from an inherited descriptor until the primary closes it. */
export class HandoffReader {
  private readonly pipe: RawPipe;
  private readonly frames = new HandoffFrames();

  constructor(
    fd: number,
    onFrame: (f: HandoffFrame) => void,
    onClose: (leftover: unknown[]) => void = () => undefined,
  ) {
    this.pipe = new pipeWrap.Pipe(pipeWrap.constants.IPC);
    const e = this.pipe.open(fd);
    if (e) throw new Error(`hand-off channel: cannot open descriptor ${fd} (${e})`);
    const pipe = this.pipe;
    const frames = this.frames;
    pipe.onread = function (ab) {
      const nread = streamBaseState[kReadBytesOrError]!;
      const handle = pipe.pendingHandle;
      pipe.pendingHandle = undefined;
      if (nread < 0 || ab === undefined) {
        pipe.readStop();
        pipe.close();
        const left = frames.drain();
        if (handle) left.push(handle);
        return onClose(left);
      }
      if (nread === 0 && !handle) return;
      for (const f of frames.push(Buffer.from(ab, streamBaseState[kArrayBufferOffset]!, nread), handle))
        onFrame(f);
    };
    const err = pipe.readStart();
    if (err) throw new Error(`hand-off channel: cannot read descriptor ${fd} (${err})`);
  }

  get orphans(): number {
    return this.frames.orphans;
  }

  close(): void {
    this.pipe.readStop();
    this.pipe.close();
  }
}
