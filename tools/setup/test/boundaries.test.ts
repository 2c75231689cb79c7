// The layering of DESIGN.md is enforced by lint, not by convention: these tests lint probe files placed (virtually)
// inside real projects, with that project's own ESLint config (as `nx lint` does), and expect each rule to fail the
// import that breaks it, with that rule's own message. Nx reports only the first constraint an import breaks, in
// the order of `depConstraints` (type rules first), so each probe is chosen to break exactly the rule it names.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const engines = new Map<string, ESLint>();

/** Lints `code` as the file `file` (relative to the workspace) with its project's config; messages by rule. */
async function lint(file: string, code: string): Promise<{ boundaries: string[]; restricted: string[] }> {
  const project = file.split('/').slice(0, 2).join('/');
  let eslint = engines.get(project);
  if (!eslint) engines.set(project, (eslint = new ESLint({ cwd: path.join(root, project) })));
  const [result] = await eslint.lintText(code, { filePath: path.join(root, file) });
  const of = (rule: string) => result!.messages.filter((m) => m.ruleId === rule).map((m) => m.message);
  const fatal = result!.messages.filter((m) => m.fatal);
  if (fatal.length) throw new Error(`probe did not parse: ${fatal.map((m) => m.message).join('; ')}`);
  return { boundaries: of('@nx/enforce-module-boundaries'), restricted: of('no-restricted-imports') };
}

const probe = (pkg: string) => `import * as probe from '${pkg}';\nexport const x = probe;\n`;
const only = (tag: string, tags: string[]) =>
  `A project tagged with "${tag}" can only depend on libs tagged with ${tags.map((t) => `"${t}"`).join(', ')}`;
const exists = (dir: string) => fs.existsSync(path.join(root, dir, 'package.json'));

describe('type rules', () => {
  it('type:lib — a lib importing an app fails', async () => {
    // gossip, not core: the dispatcher depends on core, and Nx reports a cycle before any tag rule
    const { boundaries } = await lint('libs/gossip/src/probe.ts', probe('@switchyard/host-dispatcher'));
    expect(boundaries).toEqual([only('type:lib', ['type:lib', 'type:test-lib'])]);
  });

  it('type:test-lib — the testing lib importing an app is refused', async () => {
    // every app depends on the test libs (its tests import them), so Nx refuses this import as a cycle before it
    // reaches the tag rule; the rule is the backstop for a project that does not
    const { boundaries } = await lint('libs/testing/src/probe.ts', probe('@switchyard/global-scheduler'));
    expect(boundaries).toHaveLength(1);
    expect(boundaries[0]).toMatch(
      /^Circular dependency between "@switchyard\/testing" and "@switchyard\/global-scheduler"|type:test-lib/,
    );
  });

  it("type:app — an app importing another tier's app fails", async () => {
    const { boundaries } = await lint(
      'apps/host-dispatcher/src/probe.ts',
      probe('@switchyard/global-scheduler'),
    );
    expect(boundaries).toEqual([only('type:app', ['type:lib', 'type:test-lib'])]);
  });

  it('type:tool — a tool may import apps, libs and other tools (no project of another type exists to refuse)', async () => {
    const { boundaries } = await lint('tools/bench/src/probe.ts', probe('@switchyard/host-dispatcher'));
    expect(boundaries).toEqual([]);
    expect((await lint('tools/bench/src/probe.ts', probe('@switchyard/fleet-sim'))).boundaries).toEqual([]);
  });

  it('an app importing a shared lib passes', async () => {
    const { boundaries } = await lint('apps/host-dispatcher/src/probe.ts', probe('@switchyard/core'));
    expect(boundaries).toEqual([]);
  });
});

describe('scope rules', () => {
  it('scope:shared — a shared lib importing a POP lib fails', async () => {
    expect((await lint('libs/server-agent/src/probe.ts', probe('@switchyard/gossip'))).boundaries).toEqual([
      only('scope:shared', ['scope:shared']),
    ]);
    const { boundaries } = await lint('libs/affinity/src/probe.ts', probe('@switchyard/gossip'));
    expect(boundaries).toEqual([only('scope:shared', ['scope:shared'])]);
  });

  it('scope:scheduler — the scheduler importing a POP lib fails', async () => {
    const { boundaries } = await lint('apps/global-scheduler/src/probe.ts', probe('@switchyard/gossip'));
    expect(boundaries).toEqual([only('scope:scheduler', ['scope:shared', 'scope:scheduler'])]);
  });

  it.skipIf(!exists('apps/container-balancer'))(
    'scope:balancer — the balancer importing a POP lib fails',
    async () => {
      const { boundaries } = await lint('apps/container-balancer/src/probe.ts', probe('@switchyard/gossip'));
      expect(boundaries).toEqual([only('scope:balancer', ['scope:shared', 'scope:balancer'])]);
    },
  );

  it.skipIf(!exists('apps/admin-console'))(
    'scope:console — the console importing a POP lib fails',
    async () => {
      const { boundaries } = await lint('apps/admin-console/src/probe.ts', probe('@switchyard/gossip'));
      expect(boundaries).toEqual([only('scope:console', ['scope:shared', 'scope:console'])]);
    },
  );

  // scope:pop, scope:dispatcher and scope:pop-router allow every lib scope that exists today (shared, pop): no
  // import can break them yet, so their cases check what they allow; they refuse a lib of another tier once one
  // exists (the first case of this block shows such a refusal by the shared rule).
  it('scope:pop — a POP lib may import shared libs', async () => {
    expect((await lint('libs/gossip/src/probe.ts', probe('@switchyard/registry'))).boundaries).toEqual([]);
  });

  it('scope:dispatcher — the host dispatcher may import POP libs (its primary holds the data plane)', async () => {
    expect((await lint('apps/host-dispatcher/src/probe.ts', probe('@switchyard/gossip'))).boundaries).toEqual(
      [],
    );
  });

  it.skipIf(!exists('apps/pop-router'))('scope:pop-router — the pop-router may import POP libs', async () => {
    expect((await lint('apps/pop-router/src/probe.ts', probe('@switchyard/gossip'))).boundaries).toEqual([]);
  });

  it('every dependency constraint of the config has a case in this file', async () => {
    const eslint = new ESLint({ cwd: path.join(root, 'libs/core') });
    const config = (await eslint.calculateConfigForFile(path.join(root, 'libs/core/src/index.ts'))) as {
      rules: Record<string, [unknown, { depConstraints: { sourceTag: string }[] }]>;
    };
    const tags = config.rules['@nx/enforce-module-boundaries']![1].depConstraints.map((c) => c.sourceTag);
    const covered = fs.readFileSync(fileURLToPath(import.meta.url), 'utf8');
    const untested = tags.filter(
      (t) => !['scope:tools', 'scope:e2e', 'type:e2e'].includes(t) && !covered.includes(`${t} — `),
    );
    expect(untested).toEqual([]);
  });
});

describe('test-only packages', () => {
  const testingMessage = /only test files .* may import @switchyard\/testing/;

  it("an app's source importing @switchyard/testing fails; its test file passes", async () => {
    const src = await lint('apps/global-scheduler/src/probe.ts', probe('@switchyard/testing'));
    expect(src.restricted).toEqual([expect.stringMatching(testingMessage)]);
    expect(src.boundaries).toEqual([]);
    const test = await lint('apps/global-scheduler/test/probe.test.ts', probe('@switchyard/testing'));
    expect(test.restricted).toEqual([]);
  });

  it("a lib's and a tool's sources importing @switchyard/testing fail; an exported compliance suite passes", async () => {
    for (const file of ['libs/registry/src/probe.ts', 'tools/bench/src/probe.ts']) {
      const { restricted } = await lint(file, probe('@switchyard/testing'));
      expect(restricted, file).toEqual([expect.stringMatching(testingMessage)]);
    }
    const suite = await lint('libs/registry/src/compliance/probe.ts', probe('@switchyard/testing'));
    expect(suite.restricted).toEqual([]);
  });

  it("an app's or a lib's source importing @switchyard/launch fails; a tool's passes", async () => {
    for (const file of ['apps/host-dispatcher/src/probe.ts', 'libs/registry/src/probe.ts']) {
      const { restricted } = await lint(file, probe('@switchyard/launch'));
      expect(restricted, file).toEqual([expect.stringMatching(/do not start local processes/)]);
    }
    expect((await lint('tools/bench/src/probe.ts', probe('@switchyard/launch'))).restricted).toEqual([]);
  });
});
