/**
 * Starting a workspace package's program through the `bin` its package.json declares, so that tools and tests
 * never hard-code `apps/<name>/dist/main.js` paths.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { LaunchError } from './errors.js';
import { spawnProcess, type Spawned, type SpawnProcessOptions } from './processes.js';

const require = createRequire(import.meta.url);

/**
 * The absolute path of `pkg`'s bin `name` (default: its only bin, or the one named like the package).
 * @throws LaunchError `LNC_ERR_NO_BIN` when the package declares no such bin or its file is not built yet.
 */
export function packageBin(pkg: string, name?: string): string {
  const manifest = require.resolve(`${pkg}/package.json`);
  const json = JSON.parse(fs.readFileSync(manifest, 'utf8')) as {
    name: string;
    bin?: string | Record<string, string>;
  };
  const bins: Record<string, string> =
    typeof json.bin === 'string' ? { [json.name.replace(/^@[^/]+\//, '')]: json.bin } : (json.bin ?? {});
  const names = Object.keys(bins);
  const chosen = name ?? (names.length === 1 ? names[0] : json.name.replace(/^@[^/]+\//, ''));
  const rel = chosen === undefined ? undefined : bins[chosen];
  if (rel === undefined)
    throw new LaunchError(
      'LNC_ERR_NO_BIN',
      `${pkg} declares no bin ${name ?? ''} in its package.json (bins: ${names.join(', ') || 'none'})`,
    );
  const file = path.resolve(path.dirname(manifest), rel);
  if (!fs.existsSync(file))
    throw new LaunchError('LNC_ERR_NO_BIN', `${pkg}'s bin ${chosen} is not built (${file}): build it first`);
  return file;
}

/** Runs `pkg`'s bin with this Node (`process.execPath`), as {@link spawnProcess} does; stopped by pid. */
export function spawnBin(
  pkg: string,
  args: string[],
  options: SpawnProcessOptions & { bin?: string } = {},
): Spawned {
  const { bin, ...rest } = options;
  return spawnProcess(process.execPath, [packageBin(pkg, bin), ...args], rest);
}
