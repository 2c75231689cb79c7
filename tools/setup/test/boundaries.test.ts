// The layering of DESIGN.md is enforced by lint, not by convention: these tests lint probe files placed (virtually)
// inside real projects and expect @nx/enforce-module-boundaries to fail the ones that break a rule.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const eslint = new ESLint({ cwd: root });

async function boundaryErrors(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(root, file) });
  return result!.messages.filter((m) => m.ruleId === '@nx/enforce-module-boundaries').map((m) => m.message);
}

describe('module boundaries', () => {
  it('a lib importing an app fails lint', async () => {
    const errors = await boundaryErrors(
      'libs/gossip/src/probe.ts',
      "import * as app from '@switchyard/host-dispatcher';\nexport const x = app;\n",
    );
    expect(errors.join('\n')).toMatch(/type:lib.*can only depend on libs tagged with "type:lib"/s);
  });

  it('an app importing another tier fails lint', async () => {
    const errors = await boundaryErrors(
      'apps/host-dispatcher/src/probe.ts',
      "import * as other from '@switchyard/global-scheduler';\nexport const x = other;\n",
    );
    expect(errors.length).toBeGreaterThan(0);
  });

  it('an app importing a lib passes', async () => {
    const errors = await boundaryErrors(
      'apps/host-dispatcher/src/probe.ts',
      "import { systemClock } from '@switchyard/core';\nexport const x = systemClock;\n",
    );
    expect(errors).toEqual([]);
  });
});
