/**
 * Per-loop-turn write batching for the pipelined upstream connections (`--upstream-pipelining N > 1`).
 *
 * undici writes each request to its socket as soon as it is dispatched: with pipelining, the requests the front
 * parsed from several client reads in one turn of the event loop leave for the same container as that many
 * `write` system calls (and as many TCP segments for the container to read). {@link batchWrites} corks a socket on
 * its first write of a turn and uncorks every socket corked so in one `setImmediate` (the check phase, right after
 * the poll phase that ran those reads), so they leave as one `writev`. Measured on the balancer benchmark at depth
 * 16: 0.87–0.88x the proxy CPU per request of pipelining without it (docs/container-balancer.md, session `bal7`).
 *
 * Why a write override: undici 7 has no hook between its writes and the socket, and its own `cork()`/`uncork()`
 * pairs around one request flush at the end of each request. An extra cork held to the end of the turn nests
 * outside theirs (Node counts corks), so their writes stay queued until ours is released. Only sockets whose
 * requests may wait a turn use it: a request's bytes leave at most one poll phase later than without it.
 */
import type { Socket } from 'node:net';

/** One socket's batching state: corked by us in the current turn or not. */
class Batched {
  corked = false;
  constructor(readonly socket: Socket) {}
}

let pending: Batched[] = [];
let scheduled = false;

function flush(): void {
  scheduled = false;
  const list = pending;
  pending = [];
  for (const b of list) {
    b.corked = false;
    // a socket destroyed meanwhile dropped its queued writes with it; undici fails or re-sends those requests
    if (!b.socket.destroyed) b.socket.uncork();
  }
}

/** Makes `socket` hold its writes of each turn of the event loop and send them together at the turn's end. */
export function batchWrites(socket: Socket): void {
  const b = new Batched(socket);
  const write = socket.write;
  socket.write = function batchedWrite(this: Socket, ...args: Parameters<Socket['write']>): boolean {
    if (!b.corked && !this.destroyed) {
      b.corked = true;
      this.cork();
      pending.push(b);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    }
    return write.apply(this, args);
  } as Socket['write'];
}
