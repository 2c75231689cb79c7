/**
 * The RTP relay: one UDP socket per conference (design choice: the port alone identifies the conference, so no
 * per-packet lookup by source is needed and a participant needs no signalling beyond the allocation). Each
 * socket feeds its {@link Room}; copies go out from the same socket, so participants see one address.
 */
import dgram from 'node:dgram';
import type { Clock, Logger, Startable, TimerHandle } from '@switchyard/core';
import { MixerError } from '../errors.js';
import { Room, type RoomLimits } from './room.js';

export interface RelayInit extends RoomLimits {
  /** Address the UDP sockets bind to. */
  bindHost: string;
  /** Address given to participants (the bind address unless it is a wildcard or behind NAT). */
  advertiseHost: string;
  maxConferences: number;
  participantIdleMs: number;
}

export interface Allocation {
  conference: string;
  rtp: { address: string; port: number };
}

interface Conference {
  key: string;
  socket: dgram.Socket;
  port: number;
  room: Room;
  received: number;
  relayed: number;
}

export interface RelayStats {
  conferences: number;
  participants: number;
  received: number;
  relayed: number;
  dropped: { notRtp: number; tooLarge: number; full: number };
  detail: Array<{
    conference: string;
    port: number;
    participants: number;
    received: number;
    relayed: number;
  }>;
}

export class RelayServer implements Startable {
  private readonly conferences = new Map<string, Conference>();
  private readonly opening = new Map<string, Promise<Conference>>();
  private readonly listeners = new Set<() => void>();
  private sweeper: TimerHandle | undefined;
  private received = 0;
  private relayed = 0;
  private readonly dropped = { notRtp: 0, tooLarge: 0, full: 0 };

  constructor(
    private readonly components: { clock: Clock; logger: Logger },
    private readonly init: Readonly<RelayInit>,
  ) {}

  /** Called when conferences or participants change (the load report). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get conferenceCount(): number {
    return this.conferences.size;
  }

  get participantCount(): number {
    let n = 0;
    for (const c of this.conferences.values()) n += c.room.size;
    return n;
  }

  /** Packets received so far (for packets/s). */
  get receivedTotal(): number {
    return this.received;
  }

  async start(): Promise<void> {
    this.sweeper = this.components.clock.setInterval(
      () => this.sweep(),
      Math.max(50, Math.floor(this.init.participantIdleMs / 4)),
    );
  }

  async stop(): Promise<void> {
    this.components.clock.clearInterval(this.sweeper);
    await Promise.allSettled([...this.opening.values()]);
    await Promise.all(
      [...this.conferences.values()].map((c) => new Promise<void>((r) => c.socket.close(() => r()))),
    );
    this.conferences.clear();
  }

  /**
   * The conference for `key`, opening its socket on first use; the same key gets the same answer.
   * Throws MIX_ERR_FULL at the conference bound, MIX_ERR_BIND when no UDP port can be bound.
   */
  async allocate(key: string): Promise<Allocation & { created: boolean }> {
    const have = this.conferences.get(key) ?? (await this.opening.get(key));
    if (have) return { ...this.answer(have), created: false };
    if (this.conferences.size + this.opening.size >= this.init.maxConferences)
      throw new MixerError(
        'MIX_ERR_FULL',
        `this mixer holds its maximum of ${this.init.maxConferences} conferences`,
      );
    const p = this.open(key);
    this.opening.set(key, p);
    try {
      const c = await p;
      this.conferences.set(key, c);
      this.emitChange();
      return { ...this.answer(c), created: true };
    } finally {
      this.opening.delete(key);
    }
  }

  /** Closes a conference's socket. */
  async release(key: string): Promise<boolean> {
    const c = this.conferences.get(key);
    if (!c) return false;
    this.conferences.delete(key);
    await new Promise<void>((r) => c.socket.close(() => r()));
    this.emitChange();
    return true;
  }

  stats(): RelayStats {
    return {
      conferences: this.conferences.size,
      participants: this.participantCount,
      received: this.received,
      relayed: this.relayed,
      dropped: { ...this.dropped },
      detail: [...this.conferences.values()].map((c) => ({
        conference: c.key,
        port: c.port,
        participants: c.room.size,
        received: c.received,
        relayed: c.relayed,
      })),
    };
  }

  private answer(c: Conference): Allocation {
    return { conference: c.key, rtp: { address: this.init.advertiseHost, port: c.port } };
  }

  private open(key: string): Promise<Conference> {
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket(this.init.bindHost.includes(':') ? 'udp6' : 'udp4');
      const onError = (err: NodeJS.ErrnoException) =>
        reject(
          new MixerError('MIX_ERR_BIND', `cannot bind a UDP socket (${err.code ?? 'error'})`, { cause: err }),
        );
      socket.once('error', onError);
      socket.bind(0, this.init.bindHost, () => {
        socket.off('error', onError);
        const c: Conference = {
          key,
          socket,
          port: socket.address().port,
          room: new Room(this.init),
          received: 0,
          relayed: 0,
        };
        socket.on('error', (err) =>
          this.components.logger.warn({ err: err.message, key }, 'udp socket error'),
        );
        socket.on('message', (msg, rinfo) => this.onPacket(c, msg, rinfo));
        resolve(c);
      });
    });
  }

  private onPacket(c: Conference, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    this.received++;
    c.received++;
    const v = c.room.onPacket(
      rinfo.address,
      rinfo.port,
      msg[0] ?? 0,
      msg.length,
      this.components.clock.now(),
    );
    if (!v.ok) {
      if (v.reason === 'not-rtp') this.dropped.notRtp++;
      else if (v.reason === 'too-large') this.dropped.tooLarge++;
      else this.dropped.full++;
      return;
    }
    for (const t of v.targets) c.socket.send(msg, t.port, t.address);
    this.relayed += v.targets.length;
    c.relayed += v.targets.length;
    if (v.joined) this.emitChange();
  }

  private sweep(): void {
    const now = this.components.clock.now();
    let left = 0;
    for (const c of this.conferences.values()) left += c.room.sweep(now, this.init.participantIdleMs);
    if (left) this.emitChange();
  }

  private emitChange(): void {
    for (const l of this.listeners) l();
  }
}
