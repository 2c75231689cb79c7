/** The in-process fixture shared by the tests that drive a real Dispatcher with one forked worker and no spare. */
import { Dispatcher, parseDispatcherConfig, type DispatcherComponents } from '../src/index.js';

/**
 * One worker, no spare, no drain wait, control API on a free port, a patient worker start; `overrides` (settings
 * input) win; `components` e.g. a ManualClock.
 */
export function oneWorkerDispatcher(
  overrides: Record<string, unknown> = {},
  components: DispatcherComponents = {},
): Dispatcher {
  return new Dispatcher(
    components,
    parseDispatcherConfig({
      listen: ['127.0.0.1:0'],
      minWorkers: 1,
      maxWorkers: 1,
      spareWorkers: 0,
      drainTimeoutMs: 0,
      controlPort: 0,
      // a shared 2-core machine under load can take far longer than the default to fork and load a worker
      workerStartTimeoutMs: 60_000,
      ...overrides,
    }),
  );
}
