/** Checks of the Dockerfiles: one per program, each FROM the shared base, running the program's built main. */
import fs from 'node:fs';
import path from 'node:path';
import type { Container } from './kubernetes.js';
import { DEPLOY, PROGRAMS, mainOf, type Help } from './programs.js';

export const DOCKER = path.join(DEPLOY, 'docker');

export function checkDockerfiles(
  containers: Array<{ image: string; container: Container; hostNetwork: boolean }>,
  helps: Map<string, Help>,
): string[] {
  const problems: string[] = [];
  for (const f of fs
    .readdirSync(DOCKER)
    .filter((x) => x.startsWith('Dockerfile.') && !x.includes('.dockerignore'))) {
    const name = f.slice('Dockerfile.'.length);
    if (name !== 'base' && !PROGRAMS.some((p) => p.name === name)) problems.push(`${f}: no program ${name}`);
  }
  for (const p of PROGRAMS) {
    const file = path.join(DOCKER, `Dockerfile.${p.name}`);
    if (!fs.existsSync(file)) {
      problems.push(`no Dockerfile.${p.name}`);
      continue;
    }
    const text = fs.readFileSync(file, 'utf8');
    const from = [...text.matchAll(/^FROM (.+)$/gm)].map((m) => m[1]);
    if (from.length !== 1 || from[0] !== '${BASE}' || !/^ARG BASE=switchyard\/base:/m.test(text))
      problems.push(`Dockerfile.${p.name}: must start FROM \${BASE} (switchyard/base), the one shared build`);
    const entry = /^ENTRYPOINT (.+)$/m.exec(text)?.[1];
    if (entry !== JSON.stringify(['node', mainOf(p)]).replace(/,/g, ', '))
      problems.push(`Dockerfile.${p.name}: ENTRYPOINT ${String(entry)} does not run ${mainOf(p)}`);
    if (!fs.existsSync(path.join(DEPLOY, '../..', mainOf(p).replace(/dist\/(.+)\.js$/, 'src/$1.ts'))))
      problems.push(`Dockerfile.${p.name}: ${mainOf(p)} has no source`);
    const cmd = /^CMD (.+)$/m.exec(text)?.[1];
    for (const a of cmd ? (JSON.parse(cmd) as string[]) : [])
      if (a.startsWith('--') && !helps.get(p.name)!.flags.has(a))
        problems.push(`Dockerfile.${p.name}: CMD ${a} is not a flag of ${p.name}`);
    const exposed = new Set(
      (/^EXPOSE (.+)$/m.exec(text)?.[1] ?? '')
        .split(/\s+/)
        .filter(Boolean)
        .map((x) => (x.includes('/') ? x : `${x}/tcp`)),
    );
    for (const { image, container } of containers) {
      if (!image.startsWith(`switchyard/${p.name}:`)) continue;
      for (const port of container.ports ?? []) {
        const key = `${port.containerPort}/${(port.protocol ?? 'TCP').toLowerCase()}`;
        if (!exposed.has(key))
          problems.push(`Dockerfile.${p.name}: does not EXPOSE ${key} (${port.name ?? ''})`);
      }
    }
  }
  return problems;
}
