/**
 * Selection cost with many containers in one service, in-process on the balancer's own pure core
 * (`ContainerTable`, the indexed heap of @switchyard/affinity), against a linear scan over the same containers:
 * - pick: choose the least-loaded eligible container (what every request does first);
 * - request: pick + begin + end (the two in-flight updates every request makes, each a re-score);
 * - report: a container reports a new load (a delta from its link).
 * The scan baseline keeps the same records in an array: a pick scans all of them for the minimum score, an update
 * is a field write.
 */
import { ManualClock } from '@switchyard/core';
import { ContainerTable } from '@switchyard/container-balancer';

export interface SelectionFigure {
  case: string;
  nsPerOp: number;
}

interface ScanEntry {
  id: string;
  load: number;
  inFlight: number;
  capacity: number;
  serving: boolean;
}

/** Deterministic loads, so runs compare. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** Runs `op` in batches until `ms` has passed; ns per call. */
function time(op: (i: number) => void, ms: number): number {
  let n = 0;
  const batch = 1000;
  const start = process.hrtime.bigint();
  const until = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < until) {
    for (let i = 0; i < batch; i++) op(n + i);
    n += batch;
    now = process.hrtime.bigint();
  }
  return Number(now - start) / n;
}

export function measureSelection(o: { containers: number; ms: number; runs: number }): SelectionFigure[] {
  const rnd = lcg(42);
  const table = new ContainerTable(
    { clock: new ManualClock() },
    { maxContainers: o.containers + 1, maxStickyKeys: 1, pickLogSize: 0 },
  );
  const scan: ScanEntry[] = [];
  const ids: string[] = [];
  for (let i = 0; i < o.containers; i++) {
    const id = `c${i}`;
    const load = Math.floor(rnd() * 100);
    ids.push(id);
    table.register({
      id,
      service: 'svc',
      mode: 'direct',
      address: `127.0.0.1:${1024 + (i % 60000)}`,
      capacity: 100,
      load,
      state: 'serving',
    });
    scan.push({ id, load, inFlight: 0, capacity: 100, serving: true });
  }
  const loads = Array.from({ length: 4096 }, () => Math.floor(rnd() * 100));
  const scanPick = (): ScanEntry | undefined => {
    let best: ScanEntry | undefined;
    let bestScore = Infinity;
    for (const e of scan) {
      if (!e.serving) continue;
      const s = (e.inFlight + e.load) / e.capacity;
      if (s < bestScore) {
        bestScore = s;
        best = e;
      }
    }
    return best;
  };
  const cases: Array<[string, (i: number) => void]> = [
    ['pick: heap (ours)', () => void table.pick('svc')],
    ['pick: linear scan', () => void scanPick()],
    [
      'request (pick + begin + end): heap (ours)',
      () => {
        const c = table.pick('svc')!;
        table.begin(c.id);
        table.end(c.id);
      },
    ],
    [
      'request (pick + begin + end): linear scan',
      () => {
        const c = scanPick()!;
        c.inFlight++;
        c.inFlight--;
      },
    ],
    [
      'load report (one container): heap (ours)',
      (i) => {
        table.report(ids[(i * 7919) % ids.length]!, {
          load: loads[i & 4095]!,
          capacity: 100,
          state: 'serving',
        });
      },
    ],
    [
      'load report (one container): linear scan',
      (i) => {
        scan[(i * 7919) % scan.length]!.load = loads[i & 4095]!;
      },
    ],
  ];
  const out: SelectionFigure[] = [];
  for (const [name, op] of cases) {
    const runs: number[] = [];
    time(op, Math.max(1, Math.floor(o.ms / 4))); // warm-up (JIT)
    for (let r = 0; r < o.runs; r++) runs.push(time(op, o.ms));
    runs.sort((a, b) => a - b);
    out.push({ case: name, nsPerOp: runs[Math.floor(runs.length / 2)]! });
  }
  return out;
}
