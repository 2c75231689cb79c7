/**
 * tools/deploy against the apps' real settings: for every program (the six apps and the POP host agent) the
 * Kubernetes manifests, the systemd units and their env files, C12's pop-host.env and the Dockerfiles use only
 * flags and env names the program's own `--help` lists, bind the ports they declare, probe real paths on the HTTP
 * port, and reference Secrets (documented in docs/deploy.md) instead of inlining them. A renamed setting fails
 * these checks: the last tests prove it by renaming one in a copy of the help.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkDockerfiles } from './helpers/dockerfiles.js';
import { checkManifests, loadManifests, programOfImage, WORKLOADS } from './helpers/kubernetes.js';
import { checkPopHostEnv } from './helpers/pop-host.js';
import { helpsOf, PROGRAMS, renamed, ROOT, type Help } from './helpers/programs.js';
import { checkUnits, loadUnits, programOfUnit, UNITS } from './helpers/systemd.js';

const run = promisify(execFile);
let helps: Map<string, Help>;
const docs = loadManifests();
const units = loadUnits();
const containers = docs
  .filter((d) => WORKLOADS.includes(d.doc.kind))
  .flatMap((d) =>
    d.doc.spec!.template!.spec.containers.map((c) => ({
      image: c.image,
      container: c,
      hostNetwork: d.doc.spec!.template!.spec.hostNetwork === true,
    })),
  );
const daemonSet = () =>
  docs.find((d) => d.doc.kind === 'DaemonSet' && d.doc.metadata.name === 'pop-host')!.doc;

beforeAll(async () => {
  helps = await helpsOf();
}, 180_000); // seven node processes starting on a shared, loaded machine

describe('tools/deploy matches every program', () => {
  it('every program has its help parsed, with flags and env names', () => {
    for (const p of PROGRAMS) {
      const h = helps.get(p.name)!;
      expect(h.flags.size, p.name).toBeGreaterThan(3);
      expect(h.envs.size, p.name).toBeGreaterThan(3);
    }
  });

  it('the manifests run every program, each as the right kind of workload', () => {
    const kinds = new Map(
      docs
        .filter((d) => WORKLOADS.includes(d.doc.kind))
        .flatMap((d) =>
          d.doc.spec!.template!.spec.containers.map((c) => [programOfImage(c.image)?.name, d.doc.kind]),
        ),
    );
    expect(Object.fromEntries(kinds)).toEqual({
      'global-scheduler': 'Deployment',
      'host-dispatcher': 'DaemonSet',
      'pop-router': 'DaemonSet',
      'host-agent': 'DaemonSet',
      'container-balancer': 'Deployment',
      mixer: 'Deployment',
      'admin-console': 'Deployment',
    });
    // the POP's three processes share one pod on the host network; the schedulers, balancer and console have a
    // Service
    expect(daemonSet().spec!.template!.spec.hostNetwork).toBe(true);
    const services = docs.filter((d) => d.doc.kind === 'Service').map((d) => d.doc.metadata.name);
    expect(services.sort()).toEqual(['admin-console', 'container-balancer', 'global-scheduler']);
  });

  it('Kubernetes: flags, env names, ports, probes, Services, ConfigMaps and Secrets agree with the programs', () => {
    const { problems } = checkManifests(docs, helps);
    expect(problems).toEqual([]);
  });

  it('the tiers dial each other at the right Service ports', () => {
    const svcPort = (svc: string, name: string) =>
      docs
        .find((d) => d.doc.kind === 'Service' && d.doc.metadata.name === svc)!
        .doc.spec!.ports!.find((p) => p.name === name)!.port;
    const env = (image: string, name: string) =>
      containers
        .find((c) => c.image.startsWith(`switchyard/${image}:`))!
        .container.env!.find((e) => e.name === name)?.value;
    // mixers dial in on the registration port; the workers allocate and the console polls on the API port
    expect(env('mixer', 'MIXER_BALANCER')).toBe(
      `container-balancer:${svcPort('container-balancer', 'register')}`,
    );
    expect(env('host-dispatcher', 'SIPDISP_BALANCER_URL')).toBe(
      `http://container-balancer:${svcPort('container-balancer', 'http')}`,
    );
    expect(env('admin-console', 'CONSOLE_BALANCER_URLS')).toBe(
      `http://container-balancer:${svcPort('container-balancer', 'http')}`,
    );
    expect(env('admin-console', 'CONSOLE_SCHEDULER_URLS')).toBe(
      `http://global-scheduler:${svcPort('global-scheduler', 'http')}`,
    );
    // the host agent reaches its own host's dispatcher and pop-router at the ports they bind
    const pop = daemonSet().spec!.template!.spec.containers;
    const port = (c: string) =>
      pop.find((x) => x.name === c)!.ports!.find((p) => p.name === 'http')!.containerPort;
    expect(env('host-agent', 'HOST_DISPATCHER_URL')).toBe(`http://$(HOST_ADDR):${port('host-dispatcher')}`);
    expect(env('host-agent', 'HOST_ROUTER_URL')).toBe(`http://$(HOST_ADDR):${port('pop-router')}`);
  });

  it('every Secret the manifests use is documented in docs/deploy.md, with its keys', () => {
    const { references } = checkManifests(docs, helps);
    expect([...references.secrets.keys()].sort()).toEqual([
      'admin-console-password',
      'container-balancer-tokens',
      'pop-keyring',
      'pop-tokens',
      'scheduler-token',
    ]);
    const doc = fs.readFileSync(path.join(ROOT, 'docs/deploy.md'), 'utf8').split('\n');
    for (const [name, keys] of references.secrets)
      for (const key of keys)
        expect(
          doc.some((l) => l.startsWith('|') && l.includes(`\`${name}\``) && l.includes(`\`${key}\``)),
          `docs/deploy.md: a table row naming Secret ${name} and key ${key}`,
        ).toBe(true);
  });

  it('C12: the DaemonSet sets exactly the variables of pop-host.env', () => {
    expect(checkPopHostEnv(daemonSet())).toEqual([]);
  });

  it('systemd: units and their env files use real settings, and every POP and scheduler program has a unit', () => {
    expect(checkUnits(units, helps)).toEqual([]);
    expect(units.map((u) => programOfUnit(u).program?.name).sort()).toEqual([
      'global-scheduler',
      'host-agent',
      'host-dispatcher',
      'pop-router',
    ]);
  });

  it('systemd: systemd-analyze verify accepts the units', async (ctx) => {
    if (!fs.existsSync('/usr/bin/systemd-analyze')) {
      ctx.skip('systemd-analyze is not installed: the units were checked statically only');
      return;
    }
    const files = units.map((u) => path.join(UNITS, u.file));
    const r = await run('/usr/bin/systemd-analyze', ['verify', ...files]).catch(
      (err: { stderr?: string; code?: number }) => ({
        stdout: '',
        stderr: `exit ${String(err.code)}: ${err.stderr}`,
      }),
    );
    // a warning (an unknown key, a missing executable) is printed even when the exit status is 0
    expect(r.stderr.trim()).toBe('');
  });

  it('Dockerfiles: one per program on the shared base, running its built main, exposing the manifests ports', () => {
    expect(checkDockerfiles(containers, helps)).toEqual([]);
  });
});

describe('the checks catch a renamed setting', () => {
  /** Every program's real help, but `program`'s `env` (and its flag) renamed. */
  const withRenamed = (program: string, env: string, newEnv: string, newFlag: string) =>
    new Map(helps).set(program, renamed(helps.get(program)!, env, newEnv, newFlag));

  it('a renamed env name of the pop-router fails the manifests, pop-host.env and the units', () => {
    const h = withRenamed('pop-router', 'POPR_KEYRING_FILE', 'POPR_KEYS_FILE', '--keys-file');
    const k8s = checkManifests(docs, h).problems;
    expect(k8s.some((p) => p.includes('env POPR_KEYRING_FILE is not a setting of pop-router'))).toBe(true);
    const sd = checkUnits(units, h);
    expect(sd.some((p) => p.includes('POPR_KEYRING_FILE is not a setting of'))).toBe(true);
  });

  it('a renamed flag of the balancer fails its manifest args and its Dockerfile CMD', () => {
    const h = withRenamed('container-balancer', 'BALANCER_REGISTER_HOST', 'BALANCER_REG_HOST', '--reg-host');
    expect(checkManifests(docs, h).problems).toContainEqual(
      expect.stringContaining('--register-host is not a flag of container-balancer'),
    );
    expect(checkDockerfiles(containers, h)).toContainEqual(
      expect.stringContaining('CMD --register-host is not a flag of container-balancer'),
    );
  });

  it('a renamed port setting fails the port check of every container that binds it', () => {
    const h = withRenamed('host-dispatcher', 'SIPDISP_CONTROL_PORT', 'SIPDISP_API_PORT', '--api-port');
    expect(checkManifests(docs, h).problems).toContainEqual(
      expect.stringContaining('port http: SIPDISP_CONTROL_PORT is not a setting of host-dispatcher'),
    );
  });
});
