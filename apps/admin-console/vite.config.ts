import { projectTestConfig } from '../../vitest.shared.js';

// the browser suite starts Redis, schedulers, a dispatcher and Chromium: one file at a time on a 2-core machine
export default projectTestConfig(import.meta.dirname, 'admin-console', { fileParallelism: false });
