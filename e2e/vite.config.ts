import { projectTestConfig } from '../vitest.shared.js';

// one stack at a time: the suites share the machine's cores with everyone else's tests
export default projectTestConfig(import.meta.dirname, 'e2e', { fileParallelism: false });
