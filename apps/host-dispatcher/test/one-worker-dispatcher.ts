/** The in-process fixture shared by the tests that drive a real Dispatcher with one forked worker and no spare. */
import { Dispatcher, parseDispatcherConfig } from '../src/index.js';

/** One worker, no spare, no drain wait, control API on a free port; `overrides` (settings input) win. */
export function oneWorkerDispatcher(overrides: Record<string, unknown> = {}): Dispatcher {
  return new Dispatcher(
    {},
    parseDispatcherConfig({
      listen: ['127.0.0.1:0'],
      minWorkers: 1,
      maxWorkers: 1,
      spareWorkers: 0,
      drainTimeoutMs: 0,
      controlPort: 0,
      ...overrides,
    }),
  );
}
