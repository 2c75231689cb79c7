import { ManualClock } from '@switchyard/core';
import { MemoryRegistryStore, MEMORY_STORE_TEST_PROFILE } from '../src/index.js';
import { registryCompliance } from './compliance.js';

// one in-process store is the backend; every "client" is that store (there is no server to restart)
registryCompliance('memory', async () => {
  const clock = new ManualClock();
  const store = new MemoryRegistryStore({ clock }, MEMORY_STORE_TEST_PROFILE);
  await store.start();
  return {
    clock,
    client: async () => store,
    sweepMs: MEMORY_STORE_TEST_PROFILE.sweepIntervalMs,
    close: () => store.stop(),
  };
});
