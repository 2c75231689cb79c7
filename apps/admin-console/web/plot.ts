/**
 * Load over time of the conference servers: uPlot, one line per server, updated in place on every sample. uPlot
 * (more than half of the page's script) is loaded only when a plot is first shown: the first render of every
 * other view does not parse or compile it.
 */
import type uPlot from 'uplot';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { VNode } from 'preact';
import type { LoadSeries } from '../src/shared/model.js';
import { html } from './ui.js';

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777'];

type UPlotClass = typeof uPlot;
let loading: Promise<UPlotClass> | undefined;
/** The plotting library and its stylesheet, fetched once, on first use. */
function loadUPlot(): Promise<UPlotClass> {
  return (loading ??= Promise.all([import('uplot'), import('uplot/dist/uPlot.min.css')]).then(
    ([m]) => m.default,
  ));
}

export function LoadPlot(props: { series: LoadSeries }): VNode {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const [UPlot, setUPlot] = useState<UPlotClass | null>(null);
  useEffect(() => {
    let live = true;
    void loadUPlot().then((c) => live && setUPlot(() => c));
    return () => {
      live = false;
    };
  }, []);
  const ids = props.series.servers.map((s) => s.id).join('\n');
  const data = (): uPlot.AlignedData => [
    props.series.t.map((t) => t / 1000),
    ...props.series.servers.map((s) => s.load),
  ];
  useEffect(() => {
    if (!el.current || !UPlot) return undefined;
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
    plot.current = new UPlot(opts, data(), el.current);
    return () => {
      plot.current?.destroy();
      plot.current = null;
    };
    // a new set of servers needs new series: rebuild; otherwise only the data changes
  }, [ids, UPlot]);
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
