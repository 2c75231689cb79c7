// Shared Vitest settings for every project. A project's vite.config.ts calls projectTestConfig(__dirname, name).
//  - Workspace packages resolve to their TypeScript sources through the '@switchyard/source' export condition.
//  - Slow suites are named *.slow.test.ts; SWITCHYARD_SKIP_SLOW=1 leaves them out locally. CI runs them all.
//  - Each project writes a JSON report to reports/vitest/<name>.json; tools/setup/test-all.mjs sums them up.
import path from 'node:path';
import { defineConfig, type ViteUserConfig } from 'vitest/config';

const conditions = ['@switchyard/source', 'module', 'node', 'import', 'default'];
const workspaceRoot = path.dirname(new URL(import.meta.url).pathname);

export function projectTestConfig(projectRoot: string, name: string, overrides: ViteUserConfig['test'] = {}) {
  const skipSlow = process.env['SWITCHYARD_SKIP_SLOW'] === '1';
  return defineConfig({
    root: projectRoot,
    cacheDir: path.join(workspaceRoot, 'node_modules/.vite', name),
    resolve: { conditions },
    ssr: { resolve: { conditions, externalConditions: ['@switchyard/source'] } },
    test: {
      name,
      include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
      exclude: skipSlow ? ['**/*.slow.test.ts', '**/node_modules/**'] : ['**/node_modules/**'],
      environment: 'node',
      testTimeout: 30_000,
      hookTimeout: 60_000,
      reporters: [
        'default',
        ['json', { outputFile: path.join(workspaceRoot, 'reports/vitest', `${name}.json`) }],
      ],
      ...overrides,
    },
  });
}
