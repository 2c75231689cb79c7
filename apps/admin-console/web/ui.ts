/** Preact + htm (tagged templates: no JSX build step), and the virtualised table every big list uses. */
import { h, type ComponentChildren, type VNode } from 'preact';
import { useState } from 'preact/hooks';
import htm from 'htm';

export const html = htm.bind(h) as (strings: TemplateStringsArray, ...values: unknown[]) => VNode;

export interface Column<T> {
  label: string;
  /** CSS grid track, e.g. '8rem' or '1fr'. */
  width: string;
  cell: (row: T) => ComponentChildren;
}

/**
 * Renders only the rows in view (plus a margin): 50,000 rows cost what 30 do. Rows have a fixed height so the
 * scroll position alone says which rows are visible.
 */
export function VTable<T>(props: {
  rows: T[];
  columns: Column<T>[];
  rowKey: (row: T) => string;
  testid: string;
  height?: number;
  rowHeight?: number;
}): VNode {
  const { rows, columns, rowKey, testid } = props;
  const height = props.height ?? 360;
  const rh = props.rowHeight ?? 26;
  const [top, setTop] = useState(0);
  const overscan = 8;
  const first = Math.max(0, Math.floor(top / rh) - overscan);
  const last = Math.min(rows.length, Math.ceil((top + height) / rh) + overscan);
  const grid = columns.map((c) => c.width).join(' ');
  const visible: VNode[] = [];
  for (let i = first; i < last; i++) {
    const r = rows[i]!;
    visible.push(
      html`<div
        class="vrow"
        role="row"
        data-key=${rowKey(r)}
        style=${`top:${i * rh}px;height:${rh}px;grid-template-columns:${grid}`}
      >
        ${columns.map((c) => html`<div class="cell" role="cell">${c.cell(r)}</div>`)}
      </div>`,
    );
  }
  return html`<div class="vtable" data-testid=${testid} role="table" data-rows=${rows.length}>
    <div class="vhead" role="row" style=${`grid-template-columns:${grid}`}>
      ${columns.map((c) => html`<div class="cell" role="columnheader">${c.label}</div>`)}
    </div>
    <div
      class="vbody"
      style=${`height:${Math.min(height, Math.max(rh, rows.length * rh))}px`}
      onScroll=${(e: Event) => setTop((e.currentTarget as HTMLElement).scrollTop)}
    >
      <div style=${`height:${rows.length * rh}px;position:relative`}>${visible}</div>
    </div>
    ${rows.length === 0 ? html`<div class="empty">none</div>` : null}
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
