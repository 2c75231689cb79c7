/**
 * A minimal SVG line chart, written by hand (no plotting dependency): one or more panels side by side, each with a
 * log-scale x axis, a linear y axis, ticks, a grid and a legend.
 */

export interface Series {
  name: string;
  points: ReadonlyArray<readonly [number, number]>;
  color: string;
  dashed?: boolean;
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Log-scale x axis (default true). */
  logX?: boolean;
}

const W = 560;
const H = 420;
const M = { left: 70, right: 20, top: 40, bottom: 120 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number) =>
  Math.abs(v) >= 1000 ? `${Math.round(v / 100) / 10}k` : String(Math.round(v * 100) / 100);

function niceStep(range: number, ticks: number): number {
  const raw = range / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

function panelSvg(p: Panel, offsetX: number): string {
  const logX = p.logX ?? true;
  const all = p.series.flatMap((s) => s.points);
  if (!all.length) return '';
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const yMax = Math.max(...ys, 1e-9) * 1.08;
  const yMin = Math.min(0, ...ys);
  const tx = (x: number) => {
    const f = logX
      ? (Math.log10(x) - Math.log10(x0)) / (Math.log10(x1) - Math.log10(x0) || 1)
      : (x - x0) / (x1 - x0 || 1);
    return offsetX + M.left + f * (W - M.left - M.right);
  };
  const ty = (y: number) => M.top + (1 - (y - yMin) / (yMax - yMin || 1)) * (H - M.top - M.bottom);
  const out: string[] = [];
  out.push(
    `<text x="${offsetX + W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(p.title)}</text>`,
  );
  const step = niceStep(yMax - yMin, 6);
  for (let y = Math.ceil(yMin / step) * step; y <= yMax; y += step) {
    out.push(`<line x1="${tx(x0)}" x2="${tx(x1)}" y1="${ty(y)}" y2="${ty(y)}" stroke="#ddd"/>`);
    out.push(`<text x="${tx(x0) - 6}" y="${ty(y) + 4}" text-anchor="end" font-size="11">${fmt(y)}</text>`);
  }
  const xticks = logX ? [...new Set(xs)].sort((a, b) => a - b) : [x0, x1];
  for (const x of xticks) {
    out.push(`<line x1="${tx(x)}" x2="${tx(x)}" y1="${ty(yMin)}" y2="${ty(yMax)}" stroke="#eee"/>`);
    out.push(`<text x="${tx(x)}" y="${ty(yMin) + 16}" text-anchor="middle" font-size="11">${fmt(x)}</text>`);
  }
  out.push(
    `<rect x="${tx(x0)}" y="${ty(yMax)}" width="${tx(x1) - tx(x0)}" height="${ty(yMin) - ty(yMax)}" fill="none" stroke="#333"/>`,
  );
  out.push(
    `<text x="${offsetX + (M.left + W - M.right) / 2}" y="${ty(yMin) + 34}" text-anchor="middle" font-size="12">${esc(p.xLabel)}</text>`,
  );
  const yl = (M.top + H - M.bottom) / 2;
  out.push(
    `<text x="${offsetX + 16}" y="${yl}" text-anchor="middle" font-size="12" transform="rotate(-90 ${offsetX + 16} ${yl})">${esc(p.yLabel)}</text>`,
  );
  p.series.forEach((s, i) => {
    const d = s.points
      .map(([x, y], j) => `${j ? 'L' : 'M'}${tx(x).toFixed(1)},${ty(y).toFixed(1)}`)
      .join(' ');
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
    for (const [x, y] of s.points)
      out.push(`<circle cx="${tx(x).toFixed(1)}" cy="${ty(y).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
    const col = i % 2;
    const row = Math.floor(i / 2);
    const lx = offsetX + M.left + col * 240;
    const ly = ty(yMin) + 52 + row * 16;
    out.push(
      `<line x1="${lx}" x2="${lx + 24}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${dash}/>`,
    );
    out.push(`<text x="${lx + 30}" y="${ly}" font-size="11">${esc(s.name)}</text>`);
  });
  return out.join('\n');
}

/** The SVG document of `panels` side by side, with an optional caption under them. */
export function renderSvg(panels: Panel[], caption = ''): string {
  const width = W * panels.length;
  const height = H + (caption ? 24 : 0);
  const body = panels.map((p, i) => panelSvg(p, i * W)).join('\n');
  const cap = caption ? `<text x="10" y="${H + 14}" font-size="11" fill="#555">${esc(caption)}</text>` : '';
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${body}\n${cap}\n</svg>\n`;
}
