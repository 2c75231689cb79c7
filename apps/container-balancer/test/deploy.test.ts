/**
 * tools/deploy: the Kubernetes manifests and Dockerfiles match the apps' real flags. The flags and env names are
 * read from each built app's own `--help` (not from a copy), so a renamed setting fails this test.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { spawnProcess } from '@switchyard/testing';
import { MIXER_MAIN } from './helpers/start.js';
import { BALANCER_MAIN } from './helpers/processes.js';

const DEPLOY = path.resolve(import.meta.dirname, '../../../tools/deploy');

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}
interface Probe {
  httpGet: { path: string; port: string | number };
}
interface Container {
  args?: string[];
  ports: Array<{ name: string; containerPort: number }>;
  env: EnvVar[];
  readinessProbe: Probe;
  livenessProbe: Probe;
}
interface Doc {
  kind: string;
  spec: {
    template?: { spec: { containers: Container[] } };
    ports?: Array<{ name: string; port: number; targetPort: string }>;
  };
}

async function helpOf(main: string): Promise<{ flags: Set<string>; envs: Map<string, string> }> {
  const p = spawnProcess(process.execPath, [main, '--help']);
  expect((await p.exited).code).toBe(0);
  const flags = new Set<string>();
  const envs = new Map<string, string>(); // env → flag
  for (const line of p.output().split('\n')) {
    const m = /^\s+(--[a-z0-9-]+)/.exec(line);
    if (!m) continue;
    flags.add(m[1]!);
    const e = /\[env ([A-Z0-9_]+)/.exec(line);
    if (e) envs.set(e[1]!, m[1]!);
  }
  return { flags, envs };
}

function load(file: string): Doc[] {
  return parseAllDocuments(fs.readFileSync(path.join(DEPLOY, 'kubernetes', file), 'utf8')).map(
    (d) => d.toJS() as Doc,
  );
}

function checkContainer(
  c: Container,
  help: { flags: Set<string>; envs: Map<string, string> },
  portEnv: string,
) {
  for (const a of c.args ?? []) if (a.startsWith('--')) expect(help.flags, `flag ${a}`).toContain(a);
  for (const e of c.env) {
    if (e.valueFrom?.fieldRef) continue; // downward-API helpers referenced by other values
    expect([...help.envs.keys()], `env ${e.name}`).toContain(e.name);
  }
  const http = c.ports.find((p) => p.name === 'http')!;
  expect(String(http.containerPort)).toBe(c.env.find((e) => e.name === portEnv)?.value);
  for (const probe of [c.readinessProbe, c.livenessProbe]) {
    expect(probe.httpGet.path).toBe('/healthz');
    expect(c.ports.map((p) => p.name)).toContain(probe.httpGet.port);
  }
}

describe('tools/deploy', () => {
  it('the balancer manifest uses real flags and env, its probe and ports match', async () => {
    const help = await helpOf(BALANCER_MAIN);
    const docs = load('container-balancer.yaml');
    const c = docs.find((d) => d.kind === 'Deployment')!.spec.template!.spec.containers[0]!;
    checkContainer(c, help, 'BALANCER_PORT');
    const register = c.ports.find((p) => p.name === 'register')!;
    expect(String(register.containerPort)).toBe(
      c.env.find((e) => e.name === 'BALANCER_REGISTER_PORT')?.value,
    );
    const svc = docs.find((d) => d.kind === 'Service')!;
    for (const p of svc.spec.ports!) expect(c.ports.map((x) => x.name)).toContain(p.targetPort);
    // the registration token is required: the manifest must provide it
    expect(c.env.map((e) => e.name)).toContain('BALANCER_REGISTRATION_TOKEN_FILE');
  });

  it('the mixer manifest uses real flags and env, dials the balancer Service, and its probe matches', async () => {
    const help = await helpOf(MIXER_MAIN);
    const c = load('mixer.yaml').find((d) => d.kind === 'Deployment')!.spec.template!.spec.containers[0]!;
    checkContainer(c, help, 'MIXER_PORT');
    const svc = load('container-balancer.yaml').find((d) => d.kind === 'Service')!;
    const reg = svc.spec.ports!.find((p) => p.name === 'register')!;
    expect(c.env.find((e) => e.name === 'MIXER_BALANCER')?.value).toBe(`container-balancer:${reg.port}`);
    expect(c.env.map((e) => e.name)).toContain('MIXER_REGISTRATION_TOKEN_FILE');
  });

  it('the Dockerfiles start the built mains and expose the manifests ports', () => {
    for (const [file, main, ports] of [
      ['Dockerfile.container-balancer', 'apps/container-balancer/dist/main.js', ['8700', '8701']],
      ['Dockerfile.mixer', 'apps/mixer/dist/main.js', ['8000']],
    ] as const) {
      const text = fs.readFileSync(path.join(DEPLOY, file), 'utf8');
      expect(text).toContain(`ENTRYPOINT ["node", "${main}"]`);
      expect(fs.existsSync(path.resolve(DEPLOY, '../..', main.replace('dist/main.js', 'src/main.ts')))).toBe(
        true,
      );
      expect(/^EXPOSE (.+)$/m.exec(text)?.[1]?.split(' ')).toEqual(ports);
    }
  });
});
