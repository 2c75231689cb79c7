/**
 * Reads counters out of a tier's `/metrics` answer (the Prometheus text exposition format, as prom-client writes
 * it). Only the sample lines of the wanted metric names are read; comments, other metrics and malformed lines are
 * skipped (a tier's metrics are its own; a line the console does not understand is not an error of the tier).
 */

/** One sample: its labels and its value. */
export interface Sample {
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy;

/** The samples of the named metrics in `text`, by metric name (names absent from the text map to []). */
export function readSamples(text: string, names: readonly string[]): Map<string, Sample[]> {
  const out = new Map<string, Sample[]>(names.map((n) => [n, []]));
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const list = out.get(m[1]!);
    if (!list) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    const labels = parseLabels(m[2] ?? '');
    if (labels) list.push({ labels, value });
  }
  return out;
}

function parseLabels(s: string): Record<string, string> | undefined {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  let at = 0;
  while (at < s.length) {
    LABEL.lastIndex = at;
    const m = LABEL.exec(s);
    if (!m) return undefined;
    labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    at = LABEL.lastIndex;
  }
  return labels;
}
