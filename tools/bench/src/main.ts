#!/usr/bin/env node
/**
 * Benchmark runner: `node tools/bench/dist/main.js <subcommand> [flags]`; `--help` lists the subcommands, and
 * `<subcommand> --help` their flags. To add a benchmark, add one line to SUBCOMMANDS.
 */
import { pathToFileURL } from 'node:url';
import { hasCode } from '@switchyard/core';
import { affinityMicroMain } from './affinity-micro.js';
import { balancerBenchMain } from './balancer-bench.js';
import { consoleBenchMain } from './console-bench.js';
import { dispatcherBenchMain } from './dispatcher-bench.js';
import { endToEndBenchMain } from './end-to-end-bench.js';
import { gossipConvergence } from './gossip-convergence.js';
import { registryBenchMain } from './registry-bench.js';
import { schedulerBenchMain } from './scheduler-bench.js';
import { popConvergence } from './pop-convergence.js';
import { popForward } from './pop-forward.js';
import { popCalls } from './pop-calls.js';
import { popForwardMicro } from './pop-forward-micro.js';
import type { Subcommand } from './subcommand.js';

export const SUBCOMMANDS: Record<string, Subcommand> = {
  'affinity-micro': {
    summary: 'ops/s of SIP key extraction (vs split+regex), AffinityTable, LeastLoadedQueue with 10k entries',
    run: async (argv) => affinityMicroMain(argv),
  },
  'gossip-convergence': gossipConvergence,
  'pop-convergence': popConvergence,
  'pop-forward': popForward,
  'pop-calls': popCalls,
  'pop-forward-micro': popForwardMicro,
  dispatcher: {
    summary:
      'SIPp call rate: one worker direct, our dispatcher, Kamailio dispatcher; TCP hand-offs vs node:cluster',
    run: (argv) => dispatcherBenchMain(argv),
  },
  scheduler: {
    summary: 'placements/s and latency for 1-3 schedulers, Redis commands per placement, vs redis-benchmark',
    run: (argv) => schedulerBenchMain(argv),
  },
  registry: {
    summary: 'Redis store ops/s vs raw ioredis, memory store, watcher latency',
    run: registryBenchMain,
  },
  balancer: {
    summary: 'req/s and p99 through the container balancer vs HAProxy leastconn, same 2 backends, wrk',
    run: balancerBenchMain,
  },
  'end-to-end': {
    summary:
      'call set-up p50/p99 through all four tiers vs the host dispatcher alone; conferences placed+connected/s',
    run: (argv) => endToEndBenchMain(argv),
  },
  console: {
    summary: 'admin console page render time with 1,000 POP hosts and 50,000 sessions (Chromium)',
    run: (argv) => consoleBenchMain(argv),
  },
};

export function usage(): string {
  const rows = Object.entries(SUBCOMMANDS).map(([name, s]) => `  ${name.padEnd(22)} ${s.summary}`);
  return `bench — Switchyard benchmarks\n\nUsage: node tools/bench/dist/main.js <subcommand> [flags]   (<subcommand> --help for its flags)\n\nSubcommands:\n${rows.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const sub = SUBCOMMANDS[name];
  if (!sub) {
    process.stderr.write(`bench: unknown subcommand ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }
  try {
    return await sub.run(rest);
  } catch (err) {
    if (hasCode(err, 'CORE_ERR_USAGE')) {
      process.stderr.write(`${(err as Error).message}\n`);
      return 2;
    }
    throw err;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
