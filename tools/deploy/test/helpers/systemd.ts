/**
 * Checks of the systemd units (and the env files they load) against the programs' real settings. Each check
 * returns the problems it found (empty: none).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseEnvFile } from './env-file.js';
import { DEPLOY, PROGRAMS, mainOf, type Help, type Program } from './programs.js';

export const UNITS = path.join(DEPLOY, 'systemd');
/** Where the units install the repository (docs/deploy.md). */
export const INSTALL_ROOT = '/opt/switchyard';
/** Where each env file a unit loads is kept in the repository, by its installed name under /etc/switchyard. */
export const ENV_FILES: Record<string, string> = {
  'switchyard.env': 'systemd/switchyard.env',
  'global-scheduler.env': 'systemd/global-scheduler.env',
  'pop-host.env': 'pop-host/pop-host.env',
  'secrets.env': 'systemd/secrets.env.example',
};

export interface Unit {
  file: string;
  /** section → key → values in order */
  sections: Map<string, Map<string, string[]>>;
}

export function parseUnit(file: string): Unit {
  const sections = new Map<string, Map<string, string[]>>();
  let cur: Map<string, string[]> | undefined;
  for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      cur = new Map();
      sections.set(s[1]!, cur);
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!kv || !cur) continue;
    if (!cur.has(kv[1]!)) cur.set(kv[1]!, []);
    cur.get(kv[1]!)!.push(kv[2]!);
  }
  return { file: path.basename(file), sections };
}

export function loadUnits(): Unit[] {
  return fs
    .readdirSync(UNITS)
    .filter((f) => f.endsWith('.service'))
    .sort()
    .map((f) => parseUnit(path.join(UNITS, f)));
}

const get = (u: Unit, key: string): string[] => u.sections.get('Service')?.get(key) ?? [];

/** The program a unit starts: `ExecStart=/usr/bin/node /opt/switchyard/<main> [args]`. */
export function programOfUnit(u: Unit): { program?: Program; args: string[] } {
  const [exec] = get(u, 'ExecStart');
  const words = (exec ?? '').split(/\s+/);
  const main = words[1]?.startsWith(`${INSTALL_ROOT}/`) ? words[1].slice(INSTALL_ROOT.length + 1) : '';
  return { program: PROGRAMS.find((p) => mainOf(p) === main), args: words.slice(2) };
}

/** Checks every unit and every env file a unit loads. */
export function checkUnits(units: Unit[], helps: Map<string, Help>): string[] {
  const problems: string[] = [];
  const loaders = new Map<string, Program[]>(); // env file → programs whose units load it
  const runtimeDirs: string[] = [];
  const sockets: string[] = [];
  for (const u of units) {
    const { program, args } = programOfUnit(u);
    if (!program) {
      problems.push(`${u.file}: ExecStart does not run a known program's built main under ${INSTALL_ROOT}`);
      continue;
    }
    const help = helps.get(program.name)!;
    for (const a of args)
      if (a.startsWith('--') && !help.flags.has(a))
        problems.push(`${u.file}: ${a} is not a flag of ${program.name}`);
    const set = new Map<string, string>();
    for (const e of get(u, 'Environment')) {
      const [k, v] = e.split(/=(.*)/s) as [string, string];
      if (!help.envs.has(k)) problems.push(`${u.file}: Environment ${k} is not a setting of ${program.name}`);
      set.set(k, v);
    }
    for (const ef of get(u, 'EnvironmentFile')) {
      const installed = ef.replace(/^-/, '');
      const name = installed.startsWith('/etc/switchyard/') ? installed.slice('/etc/switchyard/'.length) : '';
      const repo = ENV_FILES[name];
      if (!repo || !fs.existsSync(path.join(DEPLOY, repo))) {
        problems.push(`${u.file}: EnvironmentFile ${installed} is not one of tools/deploy's env files`);
        continue;
      }
      if (!loaders.has(name)) loaders.set(name, []);
      loaders.get(name)!.push(program);
      for (const l of parseEnvFile(path.join(DEPLOY, repo))) if (!l.commented) set.set(l.key, l.value);
    }
    for (const req of program.required)
      if (!req.some((n) => set.has(n))) problems.push(`${u.file}: ${program.name} needs ${req.join(' or ')}`);
    // the dispatcher's runtime directory lies in the one systemd creates for it, and is made before it starts
    const runtime = get(u, 'RuntimeDirectory')[0];
    const dir = set.get('SIPDISP_RUNTIME_DIR');
    if (program.name === 'host-dispatcher') {
      if (!runtime || !dir?.startsWith(`/run/${runtime}/`))
        problems.push(
          `${u.file}: SIPDISP_RUNTIME_DIR=${String(dir)} is not under RuntimeDirectory=${String(runtime)}`,
        );
      if (!get(u, 'ExecStartPre').includes('/usr/bin/mkdir -p ${SIPDISP_RUNTIME_DIR}'))
        problems.push(`${u.file}: nothing creates SIPDISP_RUNTIME_DIR before the dispatcher starts`);
      runtimeDirs.push(dir ?? '');
    }
    const sock = set.get('POPR_DISPATCHER_SOCKET');
    if (program.name === 'pop-router') sockets.push(sock ?? '');
  }
  // the pop-router connects to the socket the dispatcher makes in its runtime directory
  for (const sock of sockets)
    if (!runtimeDirs.some((d) => sock === `${d}/workers.seqpacket`))
      problems.push(`POPR_DISPATCHER_SOCKET=${sock} is not <SIPDISP_RUNTIME_DIR>/workers.seqpacket`);
  // every name in an env file is a setting of a program that loads it (commented alternatives included)
  for (const [name, programs] of loaders) {
    for (const l of parseEnvFile(path.join(DEPLOY, ENV_FILES[name]!))) {
      if (!programs.some((p) => helps.get(p.name)!.envs.has(l.key)))
        problems.push(
          `${ENV_FILES[name]}:${l.line}: ${l.key} is not a setting of ${[...new Set(programs.map((p) => p.name))].join(', ')}`,
        );
    }
  }
  return problems;
}
