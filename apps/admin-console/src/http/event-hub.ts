/**
 * Server-Sent Events to the pages: a new page gets the whole snapshot (`event: snapshot`), then every change as
 * `event: patch` holding only the sections that changed (the long ones as deltas, see shared/delta.ts). A comment line every `heartbeatMs` keeps proxies from
 * closing an idle stream. A page that cannot keep up (socket buffer over `maxBufferedBytes`) is dropped and
 * reconnects (EventSource does that by itself) rather than holding the server's memory.
 */
import type { ServerResponse } from 'node:http';
import type { Clock, TimerHandle } from '@switchyard/core';
import type { Patch, Snapshot } from '../shared/model.js';
import type { ConsoleMetrics } from '../metrics.js';

export class EventHub {
  private readonly clients = new Set<ServerResponse>();
  private heartbeat: TimerHandle | undefined;

  constructor(
    private readonly components: { clock: Clock; metrics: ConsoleMetrics },
    private readonly init: { heartbeatMs: number; maxBufferedBytes: number },
  ) {}

  start(): void {
    this.heartbeat = this.components.clock.setInterval(
      () => this.write(': keep-alive\n\n'),
      this.init.heartbeatMs,
    );
  }

  /** Takes over `res` as an event stream and sends the snapshot. */
  attach(res: ServerResponse, snapshot: Snapshot): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const data = JSON.stringify(snapshot);
    this.components.metrics.eventBytes.observe({ kind: 'snapshot' }, Buffer.byteLength(data));
    res.write(`retry: 1000\nevent: snapshot\ndata: ${data}\n\n`);
    this.clients.add(res);
    this.components.metrics.sseClients.set(this.clients.size);
    res.on('close', () => {
      this.clients.delete(res);
      this.components.metrics.sseClients.set(this.clients.size);
    });
  }

  broadcast(patch: Patch): void {
    if (this.clients.size === 0) return;
    this.components.metrics.pushes.inc();
    const data = JSON.stringify(patch);
    this.components.metrics.eventBytes.observe({ kind: 'patch' }, Buffer.byteLength(data));
    this.write(`event: patch\ndata: ${data}\n\n`);
  }

  get size(): number {
    return this.clients.size;
  }

  /** Ends every stream (graceful stop: pages reconnect to whoever serves next). */
  close(): void {
    this.components.clock.clearInterval(this.heartbeat);
    for (const c of this.clients) c.end();
    this.clients.clear();
    this.components.metrics.sseClients.set(0);
  }

  private write(chunk: string): void {
    for (const c of this.clients) {
      if (c.writableLength > this.init.maxBufferedBytes) {
        c.destroy();
        this.clients.delete(c);
        continue;
      }
      c.write(chunk);
    }
  }
}
