/** Load over time of the conference servers: uPlot, one line per server, updated in place on every sample. */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useEffect, useRef } from 'preact/hooks';
import type { VNode } from 'preact';
import type { LoadSeries } from '../src/shared/model.js';
import { html } from './ui.js';

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777'];

export function LoadPlot(props: { series: LoadSeries }): VNode {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const ids = props.series.servers.map((s) => s.id).join('\n');
  const data = (): uPlot.AlignedData => [
    props.series.t.map((t) => t / 1000),
    ...props.series.servers.map((s) => s.load),
  ];
  useEffect(() => {
    if (!el.current) return undefined;
    const opts: uPlot.Options = {
      width: Math.max(320, el.current.clientWidth || 800),
      height: 220,
      scales: { x: { time: true } },
      axes: [{}, { label: 'load (participants)' }],
      series: [
        {},
        ...props.series.servers.map((s, i) => ({
          label: s.id,
          stroke: COLORS[i % COLORS.length]!,
          width: 1.5,
          spanGaps: false,
        })),
      ],
    };
    plot.current = new uPlot(opts, data(), el.current);
    return () => {
      plot.current?.destroy();
      plot.current = null;
    };
    // a new set of servers needs new series: rebuild; otherwise only the data changes
  }, [ids]);
  useEffect(() => {
    plot.current?.setData(data());
  }, [props.series]);
  return html`<div
    class="plot"
    data-testid="load-plot"
    data-points=${props.series.t.length}
    ref=${el}
  ></div>`;
}
