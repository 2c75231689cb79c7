/**
 * The page's copy of the console state: the snapshot from the event stream, with each patch's sections replaced.
 * Events are folded together as they arrive and subscribers re-render at most once per animation frame: a burst
 * of patches costs one render, not one per event. `window.__console` exposes the sequence number and timings for
 * the browser tests and the benchmark.
 */
import type { Patch, Snapshot } from '../src/shared/model.js';
import { applyDelta } from '../src/shared/delta.js';

export interface LiveStatus {
  connected: boolean;
  snapshot: Snapshot | null;
  /** performance.now() when the oldest event folded into this render arrived. */
  receivedAt: number;
}

export interface ConsoleProbe {
  seq: number;
  events: number;
  /** Renders the events caused (at most one per animation frame; ≤ events). */
  frames: number;
  /** ms from an event's arrival (before its JSON parse) to the DOM commit of the render it caused. */
  lastRenderMs: number;
  /** ms from the same arrival to the end of the next painted frame. */
  lastFrameMs: number;
  /** What the last event carried (so a measurement can tell which event it timed). */
  lastEvent: { kind: string; bytes: number; sections: string[]; at: number } | null;
  /** Server times from the latest event that carried a registry feed change: the change reached the console's
   * state (`feedAt`), and that event was pushed (`at`). Splits a staleness figure into its hops. */
  lastFeed: { feedAt: number; at: number } | null;
  renders: number;
  /** Times the page reconnected for a fresh snapshot because a delta did not follow the version it has. */
  resyncs: number;
  /** performance.now() when the event that brought the current sessions version arrived. */
  sessionsAt: number;
  /** The sessions table's last window painted with every visible row loaded: its version and the ms from
   * `sessionsAt` to that painted frame (event → rows fetched → committed → painted). */
  sessionsPainted: { version: number; owner: string; first: number; frameMs: number } | null;
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
  /** Arrival of the oldest event not rendered yet (0: none pending). */
  private pendingSince = 0;
  private frameQueued = false;

  constructor() {
    window.__console = {
      seq: 0,
      events: 0,
      frames: 0,
      lastRenderMs: 0,
      lastFrameMs: 0,
      renders: 0,
      resyncs: 0,
      lastEvent: null,
      lastFeed: null,
      sessionsAt: 0,
      sessionsPainted: null,
    };
  }

  connect(url = '/api/events'): void {
    const es = new EventSource(url);
    this.source = es;
    es.addEventListener('open', () => this.set({ connected: true }));
    es.addEventListener('error', () => this.set({ connected: false }));
    // the arrival time is taken before parsing, so the render time the page reports includes the JSON parse
    es.addEventListener('snapshot', (ev) => {
      const at = performance.now();
      const data = (ev as MessageEvent<string>).data;
      performance.mark('snapshot:arrived');
      const snap = JSON.parse(data) as Snapshot;
      performance.measure('snapshot:parse', 'snapshot:arrived');
      window.__console.lastEvent = {
        kind: 'snapshot',
        bytes: data.length,
        sections: Object.keys(snap),
        at: snap.at,
      };
      window.__console.sessionsAt = at;
      // the first picture is drawn at once: waiting for the next frame would only add up to a frame of delay
      this.fold({ connected: true, snapshot: snap }, at, true);
    });
    es.addEventListener('patch', (ev) => {
      const at = performance.now();
      const data = (ev as MessageEvent<string>).data;
      const p = JSON.parse(data) as Patch;
      window.__console.lastEvent = {
        kind: 'patch',
        bytes: data.length,
        sections: [...Object.keys(p.sections), ...Object.keys(p.deltas ?? {}).map((k) => `delta:${k}`)],
        at: p.at,
      };
      if (p.feedAt !== undefined) window.__console.lastFeed = { feedAt: p.feedAt, at: p.at };
      const prev = this.status.snapshot;
      if (!prev) return;
      if (p.sections.sessions && p.sections.sessions.version !== prev.sessions.version)
        window.__console.sessionsAt = at;
      const next: Snapshot = { ...prev, ...p.sections, seq: p.seq, at: p.at };
      const d = p.deltas;
      if (d) {
        // a delta applies only to the version it was made from: anything else means an event was missed
        if (
          (d.conferences && d.conferences.from !== prev.versions.conferences) ||
          (d.hosts && d.hosts.from !== prev.versions.hosts)
        )
          return this.resync(url);
        next.versions = { ...prev.versions };
        if (d.conferences) {
          next.conferences = applyDelta(prev.conferences, d.conferences);
          next.versions.conferences = d.conferences.to;
        }
        if (d.hosts) {
          next.hosts = applyDelta(prev.hosts, d.hosts);
          next.versions.hosts = d.hosts.to;
        }
      }
      this.fold({ snapshot: next }, at);
    });
  }

  close(): void {
    this.source?.close();
  }

  /** A fresh stream: the server starts it with the whole snapshot. */
  private resync(url: string): void {
    window.__console.resyncs++;
    this.source?.close();
    this.connect(url);
  }

  get current(): LiveStatus {
    return this.status;
  }

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Connection changes are shown at once. */
  private set(patch: Partial<LiveStatus>): void {
    this.status = { ...this.status, ...patch };
    this.notify();
  }

  /** An event's state is kept now; the render waits for the next animation frame, with whatever came meanwhile. */
  private fold(patch: Partial<LiveStatus>, at: number, now = false): void {
    this.status = { ...this.status, ...patch };
    if (this.status.snapshot) window.__console.seq = this.status.snapshot.seq;
    window.__console.events++;
    if (!this.pendingSince) this.pendingSince = at;
    if (this.frameQueued) return;
    this.frameQueued = true;
    // a hidden page gets no animation frames; it still renders, just not faster than a timer allows
    const run = () => {
      this.frameQueued = false;
      this.status = { ...this.status, receivedAt: this.pendingSince };
      this.pendingSince = 0;
      window.__console.frames++;
      this.notify();
    };
    if (now) run();
    else if (document.hidden) setTimeout(run, 50);
    else requestAnimationFrame(run);
  }

  private notify(): void {
    for (const l of this.listeners) l(this.status);
  }
}
