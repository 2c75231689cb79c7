// Root ESLint flat config. Every project's eslint.config.mjs extends this one.
// The module-boundary rules are the layering of DESIGN.md, enforced: apps import libs, libs import libs only,
// tools and e2e may import apps (to start them in-process) and libs.
import nx from '@nx/eslint-plugin';
import prettier from 'eslint-config-prettier';

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
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: true,
          allow: [],
          depConstraints: [
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'type:tool', onlyDependOnLibsWithTags: ['type:lib', 'type:app'] },
            { sourceTag: 'type:e2e', onlyDependOnLibsWithTags: ['type:lib', 'type:app', 'type:tool'] },
            { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'scope:scheduler', onlyDependOnLibsWithTags: ['scope:shared', 'scope:scheduler'] },
            { sourceTag: 'scope:dispatcher', onlyDependOnLibsWithTags: ['scope:shared', 'scope:dispatcher'] },
            { sourceTag: 'scope:pop-router', onlyDependOnLibsWithTags: ['scope:shared', 'scope:pop-router'] },
            { sourceTag: 'scope:balancer', onlyDependOnLibsWithTags: ['scope:shared', 'scope:balancer'] },
            { sourceTag: 'scope:console', onlyDependOnLibsWithTags: ['scope:shared', 'scope:console'] },
            { sourceTag: 'scope:tools', onlyDependOnLibsWithTags: ['*'] },
          ],
        },
      ],
    },
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
