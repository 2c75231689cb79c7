// Builds the page (web/) into dist-web/, served by the console's fastify server.
import path from 'node:path';
import { defineConfig } from 'vite';

const here = import.meta.dirname;

export default defineConfig({
  root: path.join(here, 'web'),
  base: './',
  cacheDir: path.join(here, '../../node_modules/.vite/admin-console-web'),
  build: {
    outDir: path.join(here, 'dist-web'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
  },
  logLevel: 'warn',
});
