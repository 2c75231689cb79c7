import { projectTestConfig } from '../../vitest.shared.js';

// the loopback POP suite starts 3 dispatchers with workers, 3 routers and SIPp: one file at a time on 2 cores
export default projectTestConfig(import.meta.dirname, 'pop-router', { fileParallelism: false });
