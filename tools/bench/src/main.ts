#!/usr/bin/env node
/**
 * Benchmark dispatcher: `node tools/bench/dist/main.js <benchmark> [options]`. Each benchmark parses its own flags
 * (`<benchmark> --help`). Add a benchmark by adding one line to BENCHMARKS.
 */
import { pathToFileURL } from 'node:url';
import { hasCode } from '@switchyard/core';
import { affinityMicroMain } from './affinity-micro.js';

interface Benchmark {
  summary: string;
  main: (argv: string[]) => number | Promise<number>;
}

export const BENCHMARKS: Record<string, Benchmark> = {
  'affinity-micro': {
    summary: 'ops/s of SIP key extraction (vs split+regex), AffinityTable, LeastLoadedQueue with 10k entries',
    main: (argv) => affinityMicroMain(argv),
  },
};

export function usage(): string {
  const rows = Object.entries(BENCHMARKS).map(([name, b]) => `  ${name.padEnd(20)} ${b.summary}`);
  return `bench — Switchyard benchmarks\n\nUsage: node tools/bench/dist/main.js <benchmark> [options]\n       node tools/bench/dist/main.js <benchmark> --help\n\nBenchmarks:\n${rows.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const bench = BENCHMARKS[name];
  if (!bench) {
    process.stderr.write(`bench: unknown benchmark ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }
  try {
    return await bench.main(rest);
  } catch (err) {
    if (hasCode(err, 'CORE_ERR_USAGE')) {
      process.stderr.write(`${(err as Error).message}\n`);
      return 2;
    }
    throw err;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
}
