#!/usr/bin/env node
/** Entry of the scheduler benchmark: `node tools/bench/dist/scheduler-main.js [--help]`. */
import { schedulerBenchMain } from './scheduler-bench.js';

schedulerBenchMain(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`scheduler-bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
