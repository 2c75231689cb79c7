/**
 * The sessions table's rows, read a page at a time from `GET /api/sessions` for the rows in view only. The event
 * stream says when the sessions changed (their version, with the top rows); then the pages in view are read
 * again. A page keeps showing its older rows until the newer ones arrive (no flicker to placeholders on every
 * change), and an answer is never thrown away because a newer version was announced meanwhile: on a busy machine
 * changes can come faster than the reads, and the table must still fill.
 */
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { SESSION_HEAD, type SessionRow, type SessionsSummary } from '../src/shared/model.js';
import { getSessions } from './api.js';

/** Rows per request: a table shows about 30, so one or two requests fill it. */
export const SESSION_PAGE = 100;

interface Page {
  version: number;
  rows: SessionRow[];
}

interface Pages {
  owner: string;
  pages: Map<number, Page>;
  /** Rows of this owner, from the last answer (undefined before one). */
  total: number | undefined;
}

export interface SessionWindow {
  count: number;
  rowAt: (i: number) => SessionRow | undefined;
  onRange: (first: number, last: number) => void;
}

function pagesOf(first: number, last: number): number[] {
  const out: number[] = [];
  for (
    let p = Math.floor(first / SESSION_PAGE);
    p <= Math.floor(Math.max(first, last - 1) / SESSION_PAGE);
    p++
  )
    out.push(p);
  return out;
}

/** `owner` '' = all sessions; `estimate` = the count shown before an answer arrives. */
export function useSessionWindow(summary: SessionsSummary, owner: string, estimate: number): SessionWindow {
  const version = summary.version;
  // the top of the table until the table reports its range (the first page is read at once)
  const [range, setRange] = useState<[number, number]>([0, SESSION_PAGE]);
  const [, setLoaded] = useState(0);
  const state = useRef<Pages>({ owner, pages: new Map(), total: undefined });
  const inflight = useRef(new Set<string>());
  if (state.current.owner !== owner) state.current = { owner, pages: new Map(), total: undefined };
  const st = state.current;
  // the stream sent the top rows of all sessions with this version: a table at its top needs no read
  if (!owner && SESSION_PAGE <= SESSION_HEAD) {
    const top = st.pages.get(0);
    if (
      (!top || top.version < version) &&
      (summary.head.length >= SESSION_PAGE || summary.head.length === summary.total)
    ) {
      st.pages.set(0, { version, rows: summary.head.slice(0, SESSION_PAGE) });
      st.total = summary.total;
    }
  }
  const [a, b] = range;
  useEffect(() => {
    for (const p of pagesOf(a, b)) {
      const have = st.pages.get(p);
      const id = `${owner}\u0000${p}\u0000${version}`;
      if ((have && have.version >= version) || inflight.current.has(id)) continue;
      inflight.current.add(id);
      getSessions(owner, p * SESSION_PAGE, SESSION_PAGE).then(
        (page) => {
          inflight.current.delete(id);
          if (state.current !== st) return; // another owner is shown now
          const now = st.pages.get(p);
          if (now && now.version > page.version) return;
          st.pages.set(p, { version: page.version, rows: page.rows });
          st.total = page.total;
          setLoaded((n) => n + 1);
        },
        () => inflight.current.delete(id),
      );
    }
  }, [st, owner, version, a, b]);
  const count = st.total ?? estimate;
  const rowAt = (i: number) => st.pages.get(Math.floor(i / SESSION_PAGE))?.rows[i % SESSION_PAGE];
  const onRange = useCallback((first: number, last: number) => setRange([first, last]), []);
  // for the benchmark and the tests: once every row in view is of this version, the frame after it is timed
  const complete = pagesOf(a, b).every((p) => (st.pages.get(p)?.version ?? -1) >= version);
  useLayoutEffect(() => {
    if (!complete) return;
    requestAnimationFrame(() =>
      setTimeout(() => {
        window.__console.sessionsPainted = {
          version,
          owner,
          first: a,
          frameMs: performance.now() - window.__console.sessionsAt,
        };
      }, 0),
    );
  }, [complete, version, owner, a]);
  return { count, rowAt, onRange };
}
