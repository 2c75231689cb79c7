/** Entry of a worker process (forked by the primary). */
import { WorkerProcess } from './worker/worker-process.js';

new WorkerProcess().run();
