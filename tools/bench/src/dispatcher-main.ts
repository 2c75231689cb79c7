#!/usr/bin/env node
/** `node tools/bench/dist/dispatcher-main.js [--quick] [--out dir]`: the host dispatcher benchmark (build first). */
import { pathToFileURL } from 'node:url';
import { hasCode } from '@switchyard/core';
import { dispatcherBenchMain } from './dispatcher-bench.js';

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    process.exitCode = await dispatcherBenchMain(process.argv.slice(2));
  } catch (err) {
    if (hasCode(err, 'CORE_ERR_USAGE')) {
      process.stderr.write(`${(err as Error).message}\n`);
      process.exitCode = 2;
    } else throw err;
  }
}
