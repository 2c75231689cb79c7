#!/usr/bin/env node
/**
 * Benchmark runner: `node tools/bench/dist/main.js <subcommand> [flags]`, `--help` lists the subcommands.
 * To add a benchmark, add one line to SUBCOMMANDS.
 */
import { pathToFileURL } from 'node:url';
import { gossipConvergence } from './gossip-convergence.js';
import type { Subcommand } from './subcommand.js';

export const SUBCOMMANDS: Record<string, Subcommand> = {
  'gossip-convergence': gossipConvergence,
};

export function usage(): string {
  const rows = Object.entries(SUBCOMMANDS).map(([name, s]) => `  ${name.padEnd(22)} ${s.summary}`);
  return `bench — Switchyard benchmarks\n\nUsage: node tools/bench/dist/main.js <subcommand> [flags]   (<subcommand> --help for its flags)\n\nSubcommands:\n${rows.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return name ? 0 : 1;
  }
  const sub = SUBCOMMANDS[name];
  if (!sub) {
    process.stderr.write(`unknown subcommand: ${name}\n\n${usage()}`);
    return 2;
  }
  return sub.run(rest);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
