/**
 * The sessions table's rows, read a page at a time from `GET /api/sessions` for the rows in view only. The event
 * stream says when the sessions changed (their version); then the pages in view are read again. Until a new page
 * arrives the table keeps showing the previous version's rows (no flicker to placeholders on every change).
 */
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { SESSION_HEAD, type SessionRow, type SessionsSummary } from '../src/shared/model.js';
import { getSessions } from './api.js';

/** Rows per request: a table shows about 30, so one or two requests fill it. */
export const SESSION_PAGE = 100;

interface Pages {
  key: string;
  pages: Map<number, SessionRow[]>;
  total: number;
}

export interface SessionWindow {
  count: number;
  rowAt: (i: number) => SessionRow | undefined;
  onRange: (first: number, last: number) => void;
}

/** `owner` '' = all sessions; `version` from the event stream; `estimate` = the count shown before a page arrives. */
export function useSessionWindow(summary: SessionsSummary, owner: string, estimate: number): SessionWindow {
  const version = summary.version;
  const key = `${owner}\u0000${version}`;
  // the top of the table until the table reports its range (the first page is read at once)
  const [range, setRange] = useState<[number, number]>([0, SESSION_PAGE]);
  const [, setLoaded] = useState(0);
  const current = useRef<Pages>({ key: '', pages: new Map(), total: estimate });
  const previous = useRef<Pages>(current.current);
  const inflight = useRef(new Set<string>());
  if (current.current.key !== key) {
    // a new version: keep the old pages for display until the new ones arrive; a new owner: start empty
    const old = current.current;
    const sameOwner = old.key.split('\u0000')[0] === owner;
    if (!sameOwner) previous.current = { key: '', pages: new Map(), total: estimate };
    else if (old.pages.size) previous.current = old;
    current.current = {
      key,
      pages: new Map(),
      total: previous.current.pages.size ? previous.current.total : estimate,
    };
    // the stream sent the top rows of all sessions with this version: no read for a table at its top
    if (
      !owner &&
      SESSION_PAGE <= SESSION_HEAD &&
      (summary.head.length === SESSION_PAGE || summary.head.length === summary.total)
    ) {
      current.current.pages.set(0, summary.head.slice(0, SESSION_PAGE));
      current.current.total = summary.total;
    }
  }
  const [a, b] = range;
  useEffect(() => {
    const cur = current.current;
    const lastPage = Math.floor(Math.max(a, b - 1) / SESSION_PAGE);
    for (let p = Math.floor(a / SESSION_PAGE); p <= lastPage; p++) {
      const id = `${key}\u0000${p}`;
      if (cur.pages.has(p) || inflight.current.has(id)) continue;
      inflight.current.add(id);
      getSessions(owner, p * SESSION_PAGE, SESSION_PAGE).then(
        (page) => {
          inflight.current.delete(id);
          if (current.current !== cur) return;
          cur.pages.set(p, page.rows);
          cur.total = page.total;
          setLoaded((n) => n + 1);
        },
        () => inflight.current.delete(id),
      );
    }
  }, [key, a, b, owner]);
  const cur = current.current;
  const loaded = cur.pages.size > 0;
  const count = loaded ? cur.total : previous.current.pages.size ? previous.current.total : estimate;
  const rowAt = (i: number) => {
    const p = Math.floor(i / SESSION_PAGE);
    return (cur.pages.get(p) ?? previous.current.pages.get(p))?.[i % SESSION_PAGE];
  };
  const onRange = useCallback((first: number, last: number) => setRange([first, last]), []);
  // for the benchmark and the tests: when every row in view is of this version, the frame after it is timed
  const complete =
    loaded &&
    (() => {
      for (let p = Math.floor(a / SESSION_PAGE); p <= Math.floor(Math.max(a, b - 1) / SESSION_PAGE); p++)
        if (!cur.pages.has(p)) return false;
      return true;
    })();
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
