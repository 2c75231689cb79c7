/**
 * A worker process: one SIP protocol-stack instance. It receives the primary's bound UDP sockets over IPC (and
 * replies from them, so answers leave from the service address), datagrams over its seqpacket connection, and whole
 * TCP connections handed over with the bytes the primary already read.
 */
import type dgram from 'node:dgram';
import type net from 'node:net';
import { SeqpacketSocket } from 'node-unix-socket';
import { RateLimitedLog, SystemClock, createLogger, type Clock, type Logger } from '@switchyard/core';
import {
  FRAME_FIXED,
  FRAME_BOUNCED,
  FRAME_BOUNCED_UNDELEGATE,
  FRAME_HELLO,
  FRAME_MAX_ADDR,
  FRAME_MIRROR,
  handedOffBytes,
  handedOffSocket,
  readFrameHeader,
  writeFrameHeader,
  type MirrorFrame,
  type FromWorker,
  type ToWorker,
  type WorkerState,
} from '../ipc.js';
import { StreamFramer } from '../sip/framing.js';
import { HandoffReader } from '../handoff-channel.js';
import { SipUas, type DialogInfo, type Peer } from './uas.js';
import { mediaSourceFromEnv } from './media.js';
import { mediaMoverFromEnv, type MediaMover } from './media-move.js';
import { MirrorOutbox } from './mirror-outbox.js';
import { SteeredSockets } from '../steering/steered-sockets.js';
import { HeldCounts } from '../steering/held-counts.js';
import { STEERING_DEFAULTS, type SteeredPeer } from '../steering/steering-table.js';

/** The largest UDP payload (IPv4): what a connected socket can receive. */
const MAX_UDP_PAYLOAD = 65_535;

/** The dialog report, with the dialog's state for the primary's mirror (issue 9 §6). */
function dialogMessage(t: 'open' | 'close', d: DialogInfo): FromWorker {
  const m: FromWorker =
    t === 'open'
      ? { t, callId: d.callId, d: d.state, ...(d.adopted ? { adopted: true } : {}) }
      : { t, callId: d.callId, key: d.dialogKey };
  if (d.conferenceId !== undefined) m.conf = d.conferenceId;
  return m;
}

type InitMessage = Extract<ToWorker, { t: 'init' }>;

/** Node keeps a dgram socket's handle behind this symbol; there is no public way to stop reading. */
function stopReceiving(sock: dgram.Socket): void {
  const sym = Object.getOwnPropertySymbols(sock).find((s) => s.description === 'state symbol');
  const state = sym
    ? (sock as unknown as Record<symbol, { handle?: { recvStop?: () => number } }>)[sym]
    : undefined;
  if (!state?.handle?.recvStop)
    throw new Error('cannot stop reading on the passed UDP socket (Node internals changed)');
  state.handle.recvStop();
}

export class WorkerProcess {
  private init: InitMessage | undefined;
  private uas: SipUas | undefined;
  /** Moves conferences whose mixer died (absent without a balancer). */
  private mover: MediaMover | undefined;
  /** This host's POP owner token (C9), as the primary last sent it: the UAS's Contact and the mover's Via/Contact. */
  private ownerToken: string | undefined;
  private readonly udp: dgram.Socket[] = [];
  private readonly conns = new Map<number, net.Socket>();
  private nextConn = 1;
  private violations = 0;
  private malformed = 0;
  private draining = false;
  private readonly badInput: RateLimitedLog;
  private readonly mirror = new MirrorOutbox((put) => this.send({ t: 'mirror', put }));
  /** Kernel steering: the Call-IDs and conferences of this worker's dialogs, and its connected sockets. */
  private readonly held = new HeldCounts();
  private steered: SteeredSockets | undefined;
  private seq: SeqpacketSocket | undefined;
  /** TCP connections from the primary over the hand-off channel (absent: they come as 'tcp' IPC messages). */
  private handoff: HandoffReader | undefined;

  constructor(
    private readonly logger: Logger = createLogger('host-dispatcher-worker'),
    private readonly send: (m: FromWorker) => void = (m) => process.send?.(m),
    private readonly clock: Clock = new SystemClock(),
  ) {
    this.badInput = new RateLimitedLog(logger, this.clock, 5, 1000);
  }

  /** Wires the process: IPC messages in, exit when the primary goes away. */
  run(): void {
    process.on('message', (m: ToWorker, handle?: unknown) => {
      try {
        this.onMessage(m, handle);
      } catch (err) {
        this.logger.error({ err, t: m.t }, 'control message failed');
      }
    });
    process.on('disconnect', () => this.exit(0));
    // the primary may have gone while this process was still loading: 'disconnect' was emitted before we listened
    if (!process.connected) this.exit(0);
    process.on('SIGTERM', () => this.exit(0));
    process.on('SIGINT', () => {
      // the primary owns the terminal's Ctrl-C: it drains us
    });
  }

  private exit(code: number): void {
    this.steered?.closeAll('worker-gone');
    this.handoff?.close();
    this.mirror.flush();
    this.mover?.stop();
    this.uas?.shutdown();
    process.exit(code);
  }

  private onMessage(m: ToWorker, handle: unknown): void {
    switch (m.t) {
      case 'init':
        this.init = m;
        this.logger.setBindings({ worker: m.id });
        {
          const localAddress = (i: number) => m.locals[i] ?? m.locals[0]!;
          // C7: inherited SIPDISP_BALANCER_URL etc.
          const media = mediaSourceFromEnv(process.env, { logger: this.logger, clock: this.clock });
          const uas = new SipUas(
            {
              clock: this.clock,
              send: (bytes, to) => this.transmit(bytes, to),
              localAddress,
              media,
              onResponse: (res) => this.mover?.onResponse(res) ?? false,
              events: {
                dialogOpened: (d) => {
                  this.held.opened(d.callId, d.conferenceId);
                  this.send(dialogMessage('open', d));
                },
                dialogClosed: (d) => {
                  this.held.closed(d.callId, d.conferenceId);
                  this.mover?.dialogClosed(d.dialogKey);
                  this.mirror.ended(d.dialogKey);
                  this.send(dialogMessage('close', d));
                },
                dialogUpdated: (d) => this.mirror.changed(d.dialogKey, d.state),
                noDialog: (callId) => this.send({ t: 'no-dialog', callId }),
              },
            },
            m.uas,
          );
          this.uas = uas;
          // issue 13: a conference whose mixer died gets a new one and its participants a re-INVITE
          this.mover = media
            ? mediaMoverFromEnv(process.env, {
                clock: this.clock,
                logger: this.logger,
                media,
                conferences: () => uas.conferenceIds(),
                dialogs: (c) => uas.conferenceDialogs(c),
                endDialog: (k) => uas.endDialog(k),
                recordLocalCSeq: (k, seq) => void uas.updateDialog(k, { localCSeq: seq }),
                localAddress,
                ownerToken: () => this.ownerToken,
                send: (bytes, to) => this.transmit(bytes, { ...to }),
              })
            : undefined;
          this.mover?.start();
          if (this.mover) this.reportMover(this.mover, m.statsIntervalMs);
          if (m.handoffFd !== undefined) this.openHandoff(m.handoffFd);
        }
        return;
      case 'udp': {
        const sock = handle as dgram.Socket;
        // the primary reads this socket; we only send from it. Bound synchronously before any read can happen.
        stopReceiving(sock);
        sock.on('error', (err) => this.logger.warn({ err }, 'udp send error'));
        this.udp[m.local] = sock;
        if (this.init && this.udp.filter(Boolean).length === this.init.locals.length) this.connect(this.init);
        return;
      }
      case 'tcp':
        this.adoptTcp(handedOffSocket(handle), m.local, handedOffBytes(m));
        return;
      case 'steer':
        this.steering().steer({ local: m.local, address: m.address, port: m.port }, m.gen);
        return;
      case 'unsteer':
        this.steered?.unsteer({ local: m.local, address: m.address, port: m.port }, m.gen);
        return;
      case 'drain':
        this.draining = true;
        this.uas?.drain();
        return;
      case 'query':
        this.send({ t: 'state', q: m.q, state: this.state() });
        return;
      case 'owner-token':
        this.ownerToken = m.token ?? undefined;
        this.uas?.setOwnerToken(this.ownerToken);
        return;
      case 'violation':
        this.violations++;
        this.logger.error(
          { kind: m.kind, key: m.key, owner: m.owner },
          'affinity violation: this belongs to another worker',
        );
        return;
    }
  }

  private connect(init: InitMessage): void {
    const seq = new SeqpacketSocket();
    seq.setInternalReadBufferSize(FRAME_FIXED + FRAME_MAX_ADDR + 2 * init.maxMessageBytes);
    seq.on('error', (err: Error) => {
      this.logger.error({ err }, 'seqpacket error');
      this.exit(1);
    });
    seq.on('end', () => this.exit(0));
    seq.on('data', (buf: Buffer) => this.onFrame(buf));
    this.seq = seq;
    seq.connect(init.seqpacketPath, () => {
      seq.write(Buffer.concat([Buffer.from([FRAME_HELLO]), Buffer.from(init.id, 'latin1')]));
      this.send({ t: 'ready' });
    });
  }

  private onFrame(buf: Buffer): void {
    if (buf[0] === FRAME_MIRROR) {
      this.onMirrorFrame(buf);
      return;
    }
    const h = readFrameHeader(buf);
    if (!h) return;
    const peer: Peer = { transport: 'udp', address: h.address, port: h.port, local: h.local };
    // the primary's routing decision: the conference it routed by
    this.onSip(buf.subarray(h.payloadOffset), peer, false, { conference: h.key });
  }

  /** The connected sockets of delegated peers (made on the first delegation). */
  private steering(): SteeredSockets {
    if (this.steered) return this.steered;
    const init = this.init;
    const maxMessageBytes = init?.maxMessageBytes ?? 65_535;
    // any datagram may arrive on a connected socket, up to the UDP maximum: the primary judges its size (513)
    const bounceFrame = Buffer.allocUnsafe(FRAME_FIXED + FRAME_MAX_ADDR + MAX_UDP_PAYLOAD);
    this.steered = new SteeredSockets(
      {
        clock: this.clock,
        logger: this.logger,
        locals: () => init?.locals ?? [],
        held: this.held,
        deliver: (payload, p, conference) =>
          this.onSip(payload, { transport: 'udp', address: p.address, port: p.port, local: p.local }, false, {
            conference,
          }),
        bounce: (payload, p, undelegated) => {
          const seq = this.seq;
          if (!seq) return;
          const off = writeFrameHeader(
            bounceFrame,
            undelegated ? FRAME_BOUNCED_UNDELEGATE : FRAME_BOUNCED,
            p.local,
            p.address,
            p.port,
          );
          payload.copy(bounceFrame, off);
          try {
            seq.write(bounceFrame, 0, off + payload.length);
          } catch (err) {
            this.badInput.warn({ err: String(err) }, 'bounce to the primary failed');
          }
        },
        report: (p: SteeredPeer, gen, e) =>
          this.send({ t: 'steered', ...p, gen, ok: e.ok, ...(e.ok ? {} : { reason: e.reason }) }),
      },
      {
        maxSockets: init?.steering?.maxPerWorker ?? STEERING_DEFAULTS.maxPerWorker,
        idleMs: init?.steering?.idleMs ?? STEERING_DEFAULTS.idleMs,
        idleSweepMs: init?.steering?.idleSweepMs ?? STEERING_DEFAULTS.idleSweepMs,
        drainMs: init?.steering?.drainMs ?? STEERING_DEFAULTS.drainMs,
        maxMessageBytes,
      },
    );
    return this.steered;
  }

  /** Dialogs of a worker that crashed, to answer from now on (the primary's mirror). */
  private onMirrorFrame(buf: Buffer): void {
    try {
      const f = JSON.parse(buf.toString('utf8', 1)) as MirrorFrame;
      if (f.put?.length) this.uas?.adopt(f.put);
      if (f.del?.length) this.uas?.forget(f.del);
      if (f.put?.length) this.logger.info({ dialogs: f.put.length }, 'adopted dialogs of a crashed worker');
    } catch (err) {
      this.logger.error({ err }, 'bad mirror frame from the primary');
    }
  }

  /** `route`: the primary's decision for a datagram; for a TCP connection's messages, none (the UAS reads it). */
  private onSip(
    bytes: Buffer,
    peer: Peer,
    stream: boolean,
    route?: { conference: string | undefined },
  ): void {
    const uas = this.uas;
    if (!uas) return;
    try {
      // TCP: the primary routed the connection by its first message; every message on it is read by the UAS with
      // the same URI grammar the primary's scanner uses (@switchyard/affinity), so both name the same conference
      const error = uas.receive(bytes, peer, route, { stream, maxBytes: this.init?.maxMessageBytes });
      if (error) {
        this.malformed++;
        this.send({ t: 'malformed', reason: error });
        this.badInput.warn({ reason: error, peer: `${peer.address}:${peer.port}` }, 'malformed SIP message');
      }
    } catch (err) {
      // a bug must cost one message, not the worker
      this.malformed++;
      this.badInput.warn({ err: String(err) }, 'message handling failed');
    }
  }

  /** Reads the hand-off channel: each frame is a connection with the bytes the primary read before passing it. */
  private openHandoff(fd: number): void {
    this.handoff = new HandoffReader(
      fd,
      (f) => {
        try {
          this.adoptTcp(handedOffSocket(f.handle), f.local, f.bytes);
        } catch (err) {
          this.logger.error({ err }, 'TCP hand-off failed');
        }
      },
      (left) => {
        // the primary closed its end (it is going): connections whose frame never came whole cannot be served
        for (const h of left) handedOffSocket(h).destroy();
        this.handoff = undefined;
      },
    );
  }

  private adoptTcp(sock: net.Socket, local: number, first: Buffer): void {
    const id = this.nextConn++;
    const maxBytes = this.init?.maxMessageBytes ?? 65535;
    const framer = new StreamFramer(maxBytes);
    this.conns.set(id, sock);
    const peer: Peer = {
      transport: 'tcp',
      address: sock.remoteAddress ?? '',
      port: sock.remotePort ?? 0,
      local,
      conn: id,
    };
    const pump = (chunk: Buffer) => {
      framer.push(chunk);
      for (;;) {
        const next = framer.next();
        if (next === undefined) return;
        if (!Buffer.isBuffer(next)) {
          this.malformed++;
          this.send({ t: 'malformed', reason: `tcp-${next.error}` });
          this.badInput.warn(
            { reason: next.error, peer: `${peer.address}:${peer.port}` },
            'unframeable SIP over TCP; closing',
          );
          sock.destroy();
          return;
        }
        this.onSip(next, peer, true);
      }
    };
    sock.setTimeout(this.init?.tcpIdleMs ?? 300_000, () => sock.destroy());
    sock.on('error', () => sock.destroy());
    sock.on('close', () => this.conns.delete(id));
    sock.on('data', pump);
    if (first.length) pump(first);
    sock.resume();
  }

  private transmit(bytes: Buffer, to: Peer): void {
    if (to.transport === 'tcp') {
      const c = to.conn === undefined ? undefined : this.conns.get(to.conn);
      if (c && !c.destroyed) c.write(bytes);
      return;
    }
    const sock = this.udp[to.local] ?? this.udp[0];
    sock?.send(bytes, to.port, to.address);
  }

  /** The primary exports the mover's counters on /metrics: send them when they changed (cumulative, so none is lost). */
  private reportMover(mover: MediaMover, everyMs: number): void {
    let sent = '';
    this.clock.setInterval(() => {
      const now = JSON.stringify(mover.counters);
      if (now === sent) return;
      sent = now;
      this.send({ t: 'mover', c: { ...mover.counters } });
    }, everyMs);
  }

  private state(): WorkerState {
    const uas = this.uas;
    const confs = uas?.conferenceViews() ?? [];
    return {
      id: this.init?.id ?? '?',
      pid: process.pid,
      dialogs: uas?.dialogCount ?? 0,
      transactions: uas?.transactionCount ?? 0,
      conferences: confs.map((c) => ({ id: c.id, participants: c.participants.length })),
      callIds: confs.flatMap((c) => c.participants.map((k) => k.slice(0, k.indexOf('\n')))),
      violations: this.violations,
      malformed: this.malformed,
      tcpConnections: this.conns.size,
      requests: uas?.counters.requests ?? 0,
      retransmissionsAbsorbed: uas?.counters.retransmissionsAbsorbed ?? 0,
      draining: this.draining,
      ...(this.steered ? { steering: { sockets: this.steered.size, ...this.steered.counters } } : {}),
    };
  }
}
