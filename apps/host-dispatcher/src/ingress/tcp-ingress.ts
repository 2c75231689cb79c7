/**
 * TCP ingress: reads an accepted connection's first SIP message (bounded in size and time), decides with
 * {@link decideRoute} like a datagram, and hands the whole connection, with the bytes already read, to the chosen
 * worker over IPC. Refused connections get a stateless 400/503/513 when SIP allows, else are closed.
 */
import type net from 'node:net';
import { extractSipKeys } from '@switchyard/affinity';
import type { Clock, RateLimitedLog } from '@switchyard/core';
import type { ChildProcess } from 'node:child_process';
import type { ToWorker } from '../ipc.js';
import type { DispatcherMetrics } from '../metrics.js';
import type { AffinityRouter } from '../primary/router.js';
import { frameMessage } from '../sip/framing.js';
import { decideRoute } from './routing.js';
import { answerableRequest, statelessResponse } from './stateless-reply.js';

export interface TcpIngressComponents {
  clock: Clock;
  router: AffinityRouter;
  metrics: DispatcherMetrics;
  badInput: RateLimitedLog;
  /** The worker's process if it can take a connection now (ready, IPC up), else undefined. */
  workerFor(id: string): ChildProcess | undefined;
  newConference(): void;
}

export interface TcpIngressInit {
  maxMessageBytes: number;
  /** A peer must finish its first message within this (ms), else it is closed. */
  tcpFirstMessageMs: number;
}

type Refusal = 'timeout' | 'too-large' | 'bad-content-length' | 'no-worker' | 'closed' | 'malformed';

export class TcpIngress {
  constructor(
    private readonly c: TcpIngressComponents,
    private readonly init: TcpIngressInit,
  ) {}

  onConnection(sock: net.Socket, local: number): void {
    let buf: Buffer = Buffer.alloc(0);
    let done = false;
    const timer = this.c.clock.setTimeout(() => refuse('timeout'), this.init.tcpFirstMessageMs);
    const settle = () => {
      done = true;
      this.c.clock.clearTimeout(timer);
      sock.removeListener('data', onData);
    };
    const refuse = (reason: Refusal) => {
      if (done) return;
      settle();
      this.refuse(sock, buf, reason);
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const f = frameMessage(buf, this.init.maxMessageBytes);
      if (f.kind === 'incomplete') return;
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
      const child = worker === undefined ? undefined : this.c.workerFor(worker);
      if (!child) return refuse('no-worker');
      settle();
      this.handOff(sock, local, buf, child);
      if (newConference) this.c.newConference();
    };
    sock.on('data', onData);
    sock.on('error', () => refuse('closed'));
    sock.on('close', () => refuse('closed'));
  }

  private handOff(sock: net.Socket, local: number, read: Buffer, child: ChildProcess): void {
    // stop reading now: Node drops whatever the handle reads between here and the hand-off
    const handle = (sock as unknown as { _handle?: { readStop?: () => number; reading?: boolean } })._handle;
    handle?.readStop?.();
    if (handle) handle.reading = false;
    sock.pause();
    sock.removeAllListeners('data');
    sock.removeAllListeners('close');
    sock.removeAllListeners('error');
    let extra: Buffer | null;
    let bytes: Buffer = read;
    while ((extra = sock.read() as Buffer | null) !== null) bytes = Buffer.concat([bytes, extra]);
    // no peer address here: getpeername costs two syscalls per connection and the worker can ask its own socket
    child.send({ t: 'tcp', local, bytes } satisfies ToWorker, sock, { keepOpen: false }, (err) => {
      if (err) {
        this.c.metrics.tcpRejected.inc({ reason: 'handoff-failed' });
        sock.destroy();
      }
    });
    this.c.metrics.handoffs.inc();
  }

  private refuse(sock: net.Socket, buf: Buffer, reason: Refusal): void {
    this.c.metrics.tcpRejected.inc({ reason });
    if (reason === 'closed' || reason === 'timeout') {
      sock.destroy();
    } else {
      this.c.metrics.malformed.inc({ where: 'primary', reason: `tcp-${reason}` });
      const req = answerableRequest(buf, this.init.maxMessageBytes);
      const status = reason === 'no-worker' ? 503 : reason === 'too-large' ? 513 : 400;
      if (req) sock.end(statelessResponse(req, status));
      else sock.destroy();
    }
    this.c.badInput.warn(
      { reason, peer: `${sock.remoteAddress}:${sock.remotePort}`, bytes: buf.length },
      'TCP peer rejected before hand-off',
    );
  }
}
