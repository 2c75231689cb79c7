import { projectTestConfig } from '../../vitest.shared.js';

// integration suites each start a dispatcher with workers and SIPp: one file at a time keeps a 2-core machine honest
export default projectTestConfig(import.meta.dirname, 'host-dispatcher', { fileParallelism: false });
