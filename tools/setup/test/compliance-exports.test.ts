// The compliance suites are part of their packages' faces: another implementation (a Redis Cluster store, the
// pop-router's transports) imports them through the `exports` map, from sources in tests and from the build.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../../..');

describe('exported compliance suites', () => {
  it.each([
    ['@switchyard/registry/compliance', 'registryCompliance'],
    ['@switchyard/gossip/compliance', 'transportCompliance'],
  ])('%s exports %s, and its built entry exists', async (entry, name) => {
    const mod = (await import(entry)) as Record<string, unknown>;
    expect(typeof mod[name]).toBe('function');
    // what Node resolves without the source condition: the built file (`nx test` builds dependencies first)
    const pkg = entry.split('/').slice(0, 2).join('/');
    const dir = fs.realpathSync(path.join(root, 'node_modules', pkg));
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
      exports: Record<string, { import: string; types: string }>;
    };
    const target = manifest.exports['./compliance']!;
    expect(target.import).toBe('./dist/compliance/index.js');
    expect(fs.existsSync(path.join(dir, target.import))).toBe(true);
    expect(fs.existsSync(path.join(dir, target.types))).toBe(true);
  });
});
