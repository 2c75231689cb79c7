/**
 * The page's copy of the console state: the snapshot from the event stream, with each patch's sections replaced.
 * Subscribers re-render on every change. `window.__console` exposes the sequence number and timings for the
 * browser tests and the benchmark.
 */
import type { Patch, Snapshot } from '../src/shared/model.js';

export interface LiveStatus {
  connected: boolean;
  snapshot: Snapshot | null;
  /** performance.now() when the last event arrived. */
  receivedAt: number;
}

export interface ConsoleProbe {
  seq: number;
  events: number;
  /** ms from an event's arrival (before its JSON parse) to the DOM commit of the render it caused. */
  lastRenderMs: number;
  /** ms from the same arrival to the end of the next painted frame. */
  lastFrameMs: number;
  renders: number;
}

declare global {
  interface Window {
    __console: ConsoleProbe;
  }
}

type Listener = (s: LiveStatus) => void;

export class Live {
  private status: LiveStatus = { connected: false, snapshot: null, receivedAt: 0 };
  private readonly listeners = new Set<Listener>();
  private source: EventSource | undefined;

  constructor() {
    window.__console = { seq: 0, events: 0, lastRenderMs: 0, lastFrameMs: 0, renders: 0 };
  }

  connect(url = '/api/events'): void {
    const es = new EventSource(url);
    this.source = es;
    es.addEventListener('open', () => this.set({ connected: true }));
    es.addEventListener('error', () => this.set({ connected: false }));
    // receivedAt is taken before parsing, so the render time the page reports includes the JSON parse
    es.addEventListener('snapshot', (ev) => {
      const receivedAt = performance.now();
      const snap = JSON.parse((ev as MessageEvent<string>).data) as Snapshot;
      this.set({ connected: true, snapshot: snap, receivedAt });
    });
    es.addEventListener('patch', (ev) => {
      const receivedAt = performance.now();
      const p = JSON.parse((ev as MessageEvent<string>).data) as Patch;
      const prev = this.status.snapshot;
      if (!prev) return;
      this.set({ snapshot: { ...prev, ...p.sections, seq: p.seq, at: p.at }, receivedAt });
    });
  }

  close(): void {
    this.source?.close();
  }

  get current(): LiveStatus {
    return this.status;
  }

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private set(patch: Partial<LiveStatus>): void {
    this.status = { ...this.status, ...patch };
    if (patch.snapshot) {
      window.__console.seq = patch.snapshot.seq;
      window.__console.events++;
    }
    for (const l of this.listeners) l(this.status);
  }
}
