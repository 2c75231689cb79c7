// Root ESLint flat config. Every project's eslint.config.mjs extends this one.
// The module-boundary rules are the layering of DESIGN.md, enforced: apps import libs, libs import libs only,
// tools and e2e may import apps (to start them in-process) and libs; a tier's app uses only shared libs and the
// libs of its own scope; only test files import @switchyard/testing. tools/setup/test/boundaries.test.ts checks
// each rule by its message.
import nx from '@nx/eslint-plugin';
import prettier from 'eslint-config-prettier';

const SOURCE_FILES = ['**/*.ts', '**/*.mts', '**/*.js', '**/*.mjs'];
/** Files that are tests (or test suites a package exports), where `@switchyard/testing` may be imported. */
const TEST_FILES = ['**/test/**', '**/*.test.ts', '**/*.spec.ts', 'e2e/**', '**/src/compliance/**'];
const TESTING_ONLY_IN_TESTS = {
  name: '@switchyard/testing',
  message:
    'only test files (test/**, *.test.ts, e2e/**, src/compliance/**) may import @switchyard/testing; tools start processes with @switchyard/launch',
};
const LAUNCH_NOT_IN_APPS_OR_LIBS = {
  name: '@switchyard/launch',
  message:
    "an app's or a lib's sources do not start local processes: @switchyard/launch is for tests and tools",
};

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  prettier,
  {
    ignores: [
      '**/dist',
      '**/out-tsc',
      '**/node_modules',
      '**/.nx',
      '**/vite.config.*.timestamp*',
      'reports/**',
    ],
  },
  {
    files: ['**/*.ts', '**/*.mts', '**/*.js', '**/*.mjs'],
    // per-project config files import the shared root config by relative path, on purpose
    ignores: ['**/eslint.config.mjs', '**/vite.config.ts'],
    rules: {
      // Nx reports the FIRST constraint of this list that a dependency breaks, so the `type:` rules come first
      // (tools/setup/test/boundaries.test.ts checks each rule by its own message).
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: true,
          allow: [],
          depConstraints: [
            // `type:test-lib` (@switchyard/testing) is allowed at the project level because Nx cannot tell a
            // project's tests from its sources; `no-restricted-imports` below keeps it out of non-test files.
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib', 'type:test-lib'] },
            { sourceTag: 'type:test-lib', onlyDependOnLibsWithTags: ['type:lib', 'type:test-lib'] },
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib', 'type:test-lib'] },
            {
              sourceTag: 'type:tool',
              onlyDependOnLibsWithTags: ['type:lib', 'type:test-lib', 'type:app', 'type:tool'],
            },
            {
              sourceTag: 'type:e2e',
              onlyDependOnLibsWithTags: ['type:lib', 'type:test-lib', 'type:app', 'type:tool'],
            },
            // Scopes: `shared` libs are for everyone; `pop` libs (gossip) are for the tiers that run
            // on a POP host (the pop-router, and the host dispatcher whose primary holds the data plane); a tier's
            // own code is its own.
            { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'scope:pop', onlyDependOnLibsWithTags: ['scope:shared', 'scope:pop'] },
            { sourceTag: 'scope:scheduler', onlyDependOnLibsWithTags: ['scope:shared', 'scope:scheduler'] },
            {
              sourceTag: 'scope:dispatcher',
              onlyDependOnLibsWithTags: ['scope:shared', 'scope:pop', 'scope:dispatcher'],
            },
            {
              sourceTag: 'scope:pop-router',
              onlyDependOnLibsWithTags: ['scope:shared', 'scope:pop', 'scope:pop-router'],
            },
            { sourceTag: 'scope:balancer', onlyDependOnLibsWithTags: ['scope:shared', 'scope:balancer'] },
            { sourceTag: 'scope:console', onlyDependOnLibsWithTags: ['scope:shared', 'scope:console'] },
            { sourceTag: 'scope:tools', onlyDependOnLibsWithTags: ['*'] },
            { sourceTag: 'scope:e2e', onlyDependOnLibsWithTags: ['*'] },
          ],
        },
      ],
    },
  },
  // Test-only packages. `type:test-lib` projects are allowed by the Nx rules above (Nx sees projects, not files);
  // this block says which FILES may import them: only tests may import @switchyard/testing, and @switchyard/launch
  // (starting local processes) is kept out of every app's and lib's sources. A tool, or the testing lib, that
  // starts processes adds `allowLaunch` after the base config in its own eslint.config.mjs.
  {
    files: SOURCE_FILES,
    ignores: TEST_FILES,
    rules: {
      'no-restricted-imports': ['error', { paths: [TESTING_ONLY_IN_TESTS, LAUNCH_NOT_IN_APPS_OR_LIBS] }],
    },
  },
  // The same opt-in when ESLint runs from the workspace root with this file (each project's config adds it itself).
  {
    files: [
      'tools/**/*.{ts,mts,js,mjs}',
      'libs/launch/**/*.{ts,mts,js,mjs}',
      'libs/testing/**/*.{ts,mts,js,mjs}',
    ],
    ignores: TEST_FILES,
    rules: { 'no-restricted-imports': ['error', { paths: [TESTING_ONLY_IN_TESTS] }] },
  },
  {
    files: ['**/*.ts', '**/*.mts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      // Heaps, ring buffers and byte scanners index arrays whose bounds they have just checked; `!` says so.
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
];

/** For tools and the testing lib (added in their eslint.config.mjs): their sources may start local processes. */
export const allowLaunch = {
  files: SOURCE_FILES,
  ignores: TEST_FILES,
  rules: { 'no-restricted-imports': ['error', { paths: [TESTING_ONLY_IN_TESTS] }] },
};
