/** Preact + htm (tagged templates: no JSX build step), and the virtualised table every big list uses. */
import { h, type ComponentChildren, type VNode } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import htm from 'htm';

export const html = htm.bind(h) as (strings: TemplateStringsArray, ...values: unknown[]) => VNode;

export interface Column<T> {
  label: string;
  /** CSS grid track, e.g. '8rem' or '1fr'. */
  width: string;
  cell: (row: T) => ComponentChildren;
}

/** Rows drawn beyond the visible ones, above and below (smooth scrolling without blank edges). */
const OVERSCAN = 8;

/**
 * Renders only the rows in view (plus a margin): 50,000 rows cost what 30 do. Rows have a fixed height so the
 * scroll position alone says which rows are visible. The rows are either all in memory (`rows`) or read on demand
 * (`count` + `rowAt`, which answers undefined for a row not loaded yet; `onRange` says which rows are wanted).
 */
export function VTable<T>(props: {
  rows?: T[];
  count?: number;
  rowAt?: (i: number) => T | undefined;
  onRange?: (first: number, last: number) => void;
  columns: Column<T>[];
  rowKey: (row: T) => string;
  testid: string;
  height?: number;
  rowHeight?: number;
}): VNode {
  const { rows, columns, rowKey, testid, onRange } = props;
  const count = rows ? rows.length : (props.count ?? 0);
  const rowAt = rows ? (i: number) => rows[i] : (props.rowAt ?? (() => undefined));
  const height = props.height ?? 360;
  const rh = props.rowHeight ?? 26;
  const [top, setTop] = useState(0);
  const first = Math.max(0, Math.min(count, Math.floor(top / rh) - OVERSCAN));
  const last = Math.min(count, Math.ceil((top + height) / rh) + OVERSCAN);
  useEffect(() => onRange?.(first, last), [first, last, onRange]);
  const grid = columns.map((c) => c.width).join(' ');
  const visible: VNode[] = [];
  for (let i = first; i < last; i++) {
    const r = rowAt(i);
    const style = `top:${i * rh}px;height:${rh}px;grid-template-columns:${grid}`;
    visible.push(
      r === undefined
        ? html`<div class="vrow loading" role="row" data-index=${i} data-loaded="false" style=${style}>
            <div class="cell muted" role="cell">…</div>
          </div>`
        : html`<div class="vrow" role="row" data-index=${i} data-key=${rowKey(r)} style=${style}>
            ${columns.map((c) => html`<div class="cell" role="cell">${c.cell(r)}</div>`)}
          </div>`,
    );
  }
  return html`<div class="vtable" data-testid=${testid} role="table" data-rows=${count}>
    <div class="vhead" role="row" style=${`grid-template-columns:${grid}`}>
      ${columns.map((c) => html`<div class="cell" role="columnheader">${c.label}</div>`)}
    </div>
    <div
      class="vbody"
      style=${`height:${Math.min(height, Math.max(rh, count * rh))}px`}
      onScroll=${(e: Event) => setTop((e.currentTarget as HTMLElement).scrollTop)}
    >
      <div style=${`height:${count * rh}px;position:relative`}>${visible}</div>
    </div>
    ${count === 0 ? html`<div class="empty">none</div>` : null}
  </div>`;
}

export function Badge(props: { kind: string; children: ComponentChildren }): VNode {
  return html`<span class=${`badge ${props.kind}`}>${props.children}</span>`;
}

export function ago(at: number | undefined, now: number): string {
  if (at === undefined) return 'never';
  const s = Math.max(0, Math.round((now - at) / 1000));
  return s < 1 ? 'now' : `${s} s ago`;
}
