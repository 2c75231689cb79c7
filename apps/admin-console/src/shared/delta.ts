/**
 * Deltas of the keyed sections (rows with an id, sorted by id): what changed and what was removed since a
 * version. The server sends the whole section once (in the snapshot a page receives on connect) and then only
 * deltas; the page applies them in order and, on a version gap, reconnects for a fresh snapshot. Shared by the
 * server and the page (no Node imports here).
 */

/** `from` → `to` (to = from + 1): rows added or changed (whole rows), ids removed. */
export interface Delta<T> {
  from: number;
  to: number;
  changed: T[];
  removed: string[];
}

function byIdOrder(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The rows after a delta (a new array; `rows` is left as it was), still sorted by id. */
export function applyDelta<T extends { id: string }>(rows: readonly T[], d: Delta<T>): T[] {
  if (d.changed.length === 0 && d.removed.length === 0) return [...rows];
  const byId = new Map<string, T>();
  for (const r of rows) byId.set(r.id, r);
  for (const id of d.removed) byId.delete(id);
  let added = false;
  for (const r of d.changed) {
    if (!byId.has(r.id)) added = true;
    byId.set(r.id, r);
  }
  // a Map keeps insertion order: the rows that were there stay in order, new ones need a sort
  const out = [...byId.values()];
  if (added) out.sort(byIdOrder);
  return out;
}
