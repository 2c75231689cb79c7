/**
 * The programs that tools/deploy runs, and what each one really accepts: its flags, env names and defaults, read
 * from the built program's own `--help` (which @switchyard/core derives from its settings schema), never from a
 * copy. A renamed setting therefore changes what these checks compare against.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnProcess } from '@switchyard/testing';

export const ROOT = path.resolve(import.meta.dirname, '../../../..');
export const DEPLOY = path.join(ROOT, 'tools/deploy');

export interface Program {
  /** The image name (`switchyard/<name>`), the Dockerfile suffix and the key of this table. */
  name: string;
  /** The package that declares its bin. */
  pkg: string;
  bin: string;
  /** A container port's name → the env name of the setting that binds it. */
  ports: Record<string, string>;
  /** Settings that must be set in every deployment: each entry is satisfied by any one of its env names. */
  required: string[][];
}

export const PROGRAMS: readonly Program[] = [
  {
    name: 'global-scheduler',
    pkg: 'apps/global-scheduler',
    bin: 'global-scheduler',
    ports: { http: 'SCHEDULER_PORT' },
    required: [['SCHEDULER_TOKEN_FILE', 'SCHEDULER_TOKEN']],
  },
  {
    name: 'pop-router',
    pkg: 'apps/pop-router',
    bin: 'pop-router',
    ports: { http: 'POPR_PORT', gossip: 'POPR_GOSSIP_PORT', tunnel: 'POPR_TUNNEL_PORT' },
    required: [['POPR_KEYRING_FILE'], ['POPR_TOKEN_FILE', 'POPR_TOKEN'], ['POPR_DISPATCHER_SOCKET']],
  },
  {
    name: 'host-dispatcher',
    pkg: 'apps/host-dispatcher',
    bin: 'host-dispatcher',
    ports: { http: 'SIPDISP_CONTROL_PORT', 'sip-udp': 'SIPDISP_LISTEN', 'sip-tcp': 'SIPDISP_LISTEN' },
    required: [['SIPDISP_CONTROL_TOKEN'], ['SIPDISP_RUNTIME_DIR']],
  },
  {
    name: 'host-agent',
    pkg: 'tools/stack',
    bin: 'switchyard-host-agent',
    ports: {},
    required: [
      ['HOST_ID'],
      ['HOST_SIP'],
      ['HOST_DISPATCHER_URL'],
      ['HOST_ROUTER_URL'],
      ['SIPDISP_CONTROL_TOKEN'],
    ],
  },
  {
    name: 'container-balancer',
    pkg: 'apps/container-balancer',
    bin: 'container-balancer',
    ports: { http: 'BALANCER_PORT', register: 'BALANCER_REGISTER_PORT' },
    required: [['BALANCER_REGISTRATION_TOKEN_FILE', 'BALANCER_REGISTRATION_TOKEN']],
  },
  {
    name: 'mixer',
    pkg: 'apps/mixer',
    bin: 'mixer',
    ports: { http: 'MIXER_PORT' },
    required: [['MIXER_REGISTRATION_TOKEN_FILE', 'MIXER_REGISTRATION_TOKEN'], ['MIXER_BALANCER']],
  },
  {
    name: 'admin-console',
    pkg: 'apps/admin-console',
    bin: 'admin-console',
    ports: { http: 'CONSOLE_PORT' },
    required: [['CONSOLE_PASSWORD_FILE', 'CONSOLE_PASSWORD']],
  },
];

/** The probe paths every HTTP-serving app answers (BRIEF: `/healthz` and `/metrics` on its HTTP port). */
export const PROBE_PATHS = ['/healthz', '/metrics'];

/** The built main of a program, relative to the repository root (from its package.json `bin`). */
export function mainOf(p: Program): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, p.pkg, 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
  };
  const rel = pkg.bin[p.bin];
  if (!rel) throw new Error(`${p.pkg}/package.json has no bin ${p.bin}`);
  return path.posix.join(p.pkg, rel.replace(/^\.\//, ''));
}

export interface Help {
  flags: Set<string>;
  /** env name → flag */
  envs: Map<string, string>;
  /** flag → default as printed */
  defaults: Map<string, string>;
}

/** Parses `--help` as @switchyard/core prints it: `  --flag <value>   text [env NAME, default D]`. */
export function parseHelp(text: string): Help {
  const help: Help = { flags: new Set(), envs: new Map(), defaults: new Map() };
  for (const line of text.split('\n')) {
    const m = /^\s+(--[a-z0-9-]+)/.exec(line);
    if (!m) continue;
    const flag = m[1]!;
    help.flags.add(flag);
    const e = /\[env ([A-Z0-9_]+)(?:, default (.*))?\]\s*$/.exec(line);
    if (e) help.envs.set(e[1]!, flag);
    const d = /[[,] ?default (.*)\]\s*$/.exec(line);
    if (d) help.defaults.set(flag, d[1]!);
  }
  return help;
}

/** Runs every program's `--help` (the built main through node) and parses it. */
export async function helpsOf(programs: readonly Program[] = PROGRAMS): Promise<Map<string, Help>> {
  const out = new Map<string, Help>();
  await Promise.all(
    programs.map(async (p) => {
      const proc = spawnProcess(process.execPath, [path.join(ROOT, mainOf(p)), '--help']);
      const { code } = await proc.exited;
      if (code !== 0) throw new Error(`${p.name} --help exited ${String(code)}: ${proc.output()}`);
      out.set(p.name, parseHelp(proc.output()));
    }),
  );
  return out;
}

/** A copy of `help` with one env name and its flag renamed (to prove the checks catch a rename). */
export function renamed(help: Help, env: string, newEnv: string, newFlag: string): Help {
  const flag = help.envs.get(env);
  if (!flag) throw new Error(`no env ${env}`);
  const envs = new Map([...help.envs].filter(([e]) => e !== env));
  envs.set(newEnv, newFlag);
  const flags = new Set([...help.flags].filter((f) => f !== flag));
  flags.add(newFlag);
  return { flags, envs, defaults: help.defaults };
}
