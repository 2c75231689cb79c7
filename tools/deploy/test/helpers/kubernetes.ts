/**
 * Checks of the Kubernetes manifests against the programs' real settings. Each check returns the problems it
 * found (empty: none), so a test can also prove that a renamed setting is caught.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { DEPLOY, PROBE_PATHS, PROGRAMS, type Help, type Program } from './programs.js';

interface KeyRef {
  name: string;
  key: string;
}
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; configMapKeyRef?: KeyRef; secretKeyRef?: KeyRef };
}
interface Probe {
  httpGet?: { path: string; port: string | number };
  tcpSocket?: { port: string | number };
}
interface Port {
  name?: string;
  containerPort: number;
  protocol?: string;
}
export interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  ports?: Port[];
  env?: EnvVar[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}
interface SecretItems {
  name?: string;
  secretName?: string;
  items?: Array<{ key: string; path: string }>;
}
interface Volume {
  name: string;
  secret?: SecretItems;
  projected?: { sources: Array<{ secret?: SecretItems }> };
  emptyDir?: object;
}
export interface Doc {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  data?: Record<string, string>;
  spec?: {
    selector?: Record<string, string> & { matchLabels?: Record<string, string> };
    template?: {
      metadata: { labels: Record<string, string> };
      spec: { containers: Container[]; volumes?: Volume[]; hostNetwork?: boolean };
    };
    ports?: Array<{ name: string; port: number; targetPort: string | number; protocol?: string }>;
  };
}

export const MANIFESTS = path.join(DEPLOY, 'kubernetes');

export function loadManifests(): Array<{ file: string; doc: Doc }> {
  return fs
    .readdirSync(MANIFESTS)
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .sort()
    .flatMap((file) =>
      parseAllDocuments(fs.readFileSync(path.join(MANIFESTS, file), 'utf8')).map((d) => ({
        file,
        doc: d.toJS() as Doc,
      })),
    );
}

export const WORKLOADS = ['Deployment', 'DaemonSet', 'StatefulSet'];

/** The program an image runs: `switchyard/<name>:<tag>`. */
export function programOfImage(image: string): Program | undefined {
  const m = /^switchyard\/([a-z-]+):[\w.-]+$/.exec(image);
  return m ? PROGRAMS.find((p) => p.name === m[1]) : undefined;
}

/** `$(NAME)` references of a value (Kubernetes' dependent environment variables). */
export function refs(value: string): string[] {
  return [...value.matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)].map((m) => m[1]!);
}

/** The value a container gives a setting: its flag in args, else its env, else the program's default. */
function effective(c: Container, help: Help, env: string): string | undefined {
  const flag = help.envs.get(env);
  const args = c.args ?? [];
  const i = flag ? args.indexOf(flag) : -1;
  if (i >= 0) return args[i + 1];
  const e = c.env?.find((x) => x.name === env);
  if (e) return e.value;
  return flag ? help.defaults.get(flag) : undefined;
}

function portsOfSetting(value: string): number[] {
  // a port ('8080') or a list of host:port ('$(VIP):5060,$(HOST_ADDR):5060')
  return value.split(',').map((v) => Number(v.slice(v.lastIndexOf(':') + 1)));
}

const SECRETISH = /TOKEN|PASSWORD|SECRET/;

/** What the manifests reference: Secrets (name → keys) and ConfigMap keys. */
export interface References {
  secrets: Map<string, Set<string>>;
}

function addSecret(r: References, secretKey: string): void {
  const [name, key] = secretKey.split('/') as [string, string];
  if (!r.secrets.has(name)) r.secrets.set(name, new Set());
  r.secrets.get(name)!.add(key);
}

function secretFiles(c: Container, volumes: Volume[]): Map<string, string> {
  // mounted file path → "secret/key"
  const files = new Map<string, string>();
  for (const m of c.volumeMounts ?? []) {
    const v = volumes.find((x) => x.name === m.name);
    const sources = v?.secret ? [v.secret] : (v?.projected?.sources.map((s) => s.secret) ?? []);
    for (const s of sources) {
      if (!s) continue;
      const name = s.secretName ?? s.name ?? '?';
      for (const it of s.items ?? []) files.set(path.posix.join(m.mountPath, it.path), `${name}/${it.key}`);
      // without items every key of the Secret is a file of that name
      if (!s.items) files.set(`${m.mountPath}/*`, `${name}/*`);
    }
  }
  return files;
}

/** The Secret key a mounted file comes from ("secret/key"), if any. */
function secretOfFile(files: Map<string, string>, file: string): string | undefined {
  const exact = files.get(file);
  if (exact) return exact;
  const whole = files.get(`${path.posix.dirname(file)}/*`);
  return whole?.replace(/\*$/, path.posix.basename(file));
}

/** Every check of one container against its program's help. */
function checkContainer(
  where: string,
  c: Container,
  volumes: Volume[],
  helps: Map<string, Help>,
  configMaps: Map<string, Record<string, string>>,
  refsOut: References,
): string[] {
  const problems: string[] = [];
  const prog = programOfImage(c.image);
  if (!prog) return [`${where}: image ${c.image} is not switchyard/<program>:<tag> of a known program`];
  const help = helps.get(prog.name)!;
  if (c.command) problems.push(`${where}: overrides the image's entry point (command)`);
  for (const a of c.args ?? [])
    if (a.startsWith('--') && !help.flags.has(a))
      problems.push(`${where}: ${a} is not a flag of ${prog.name}`);

  const env = c.env ?? [];
  const defined = new Set<string>();
  const referenced = new Set([...env.flatMap((e) => refs(e.value ?? '')), ...(c.args ?? []).flatMap(refs)]);
  const files = secretFiles(c, volumes);
  for (const e of env) {
    const isSetting = help.envs.has(e.name);
    if (!isSetting && !referenced.has(e.name))
      problems.push(
        `${where}: env ${e.name} is not a setting of ${prog.name} (nor a helper other values use)`,
      );
    for (const r of refs(e.value ?? ''))
      if (!defined.has(r)) problems.push(`${where}: env ${e.name} uses $(${r}), not defined before it`);
    defined.add(e.name);
    const cm = e.valueFrom?.configMapKeyRef;
    if (cm && configMaps.get(cm.name)?.[cm.key] === undefined)
      problems.push(
        `${where}: env ${e.name} reads ConfigMap ${cm.name} key ${cm.key}, which no manifest defines`,
      );
    const sk = e.valueFrom?.secretKeyRef;
    if (sk) addSecret(refsOut, `${sk.name}/${sk.key}`);
    if (SECRETISH.test(e.name) && !e.name.endsWith('_FILE') && e.value !== undefined)
      problems.push(`${where}: secret ${e.name} is inlined (use a secretKeyRef or a file)`);
    if (isSetting && e.name.endsWith('_FILE') && SECRETISH.test(e.name)) {
      // the file it names must be mounted from a Secret
      let v = e.value ?? '';
      for (const r of refs(v)) v = v.replace(`$(${r})`, env.find((x) => x.name === r)?.value ?? '');
      const sf = secretOfFile(files, v);
      if (!sf) problems.push(`${where}: ${e.name}=${v} is not a file mounted from a Secret`);
      else addSecret(refsOut, sf);
    }
  }
  if (help.envs.has('POPR_KEYRING_FILE')) {
    let v = env.find((x) => x.name === 'POPR_KEYRING_FILE')?.value ?? '';
    for (const r of refs(v)) v = v.replace(`$(${r})`, env.find((x) => x.name === r)?.value ?? '');
    const sf = secretOfFile(files, v);
    if (!sf) problems.push(`${where}: POPR_KEYRING_FILE=${v} is not a file mounted from a Secret`);
    else addSecret(refsOut, sf);
  }
  for (const f of files.values()) if (!f.endsWith('/*')) addSecret(refsOut, f);
  for (const req of prog.required)
    if (!req.some((n) => env.some((e) => e.name === n) || (c.args ?? []).includes(help.envs.get(n) ?? '\0')))
      problems.push(`${where}: ${prog.name} needs ${req.join(' or ')}`);

  // ports: each named port is bound by the setting the program maps it to, with the same number
  const ports = c.ports ?? [];
  for (const p of ports) {
    const setting = p.name ? prog.ports[p.name] : undefined;
    if (!setting) {
      problems.push(`${where}: port ${p.name ?? p.containerPort} is not a port ${prog.name} binds`);
      continue;
    }
    if (!help.envs.has(setting)) {
      problems.push(`${where}: port ${p.name}: ${setting} is not a setting of ${prog.name}`);
      continue;
    }
    const v = effective(c, help, setting);
    if (v === undefined || !portsOfSetting(v).every((n) => n === p.containerPort))
      problems.push(`${where}: port ${p.name} is ${p.containerPort} but ${setting} is ${String(v)}`);
  }
  // probes: a real path on a port the container names, which the program serves HTTP on
  for (const [kind, probe] of [
    ['readinessProbe', c.readinessProbe],
    ['livenessProbe', c.livenessProbe],
  ] as const) {
    if (!probe) {
      if (prog.ports['http']) problems.push(`${where}: no ${kind} (${prog.name} serves HTTP)`);
      continue;
    }
    const port = probe.httpGet?.port ?? probe.tcpSocket?.port;
    if (probe.httpGet && !PROBE_PATHS.includes(probe.httpGet.path))
      problems.push(`${where}: ${kind} path ${probe.httpGet.path} is not one of ${PROBE_PATHS.join(', ')}`);
    const named = ports.find((p) => p.name === port || p.containerPort === port);
    if (!named || named.name !== 'http')
      problems.push(`${where}: ${kind} port ${String(port)} is not the container's http port`);
  }
  return problems;
}

/** Checks every workload, Service and Secret reference of the manifests. */
export function checkManifests(
  docs: Array<{ file: string; doc: Doc }>,
  helps: Map<string, Help>,
): { problems: string[]; references: References } {
  const problems: string[] = [];
  const references: References = { secrets: new Map() };
  const configMaps = new Map<string, Record<string, string>>();
  for (const { doc } of docs) if (doc.kind === 'ConfigMap') configMaps.set(doc.metadata.name, doc.data ?? {});
  const workloads = docs.filter((d) => WORKLOADS.includes(d.doc.kind));
  for (const { file, doc } of docs) {
    if (doc.kind === 'Secret') problems.push(`${file}: Secret ${doc.metadata.name} inlined in a manifest`);
    if (!WORKLOADS.includes(doc.kind)) continue;
    const t = doc.spec!.template!;
    const sel = doc.spec!.selector?.matchLabels ?? {};
    for (const [k, v] of Object.entries(sel))
      if (t.metadata.labels[k] !== v)
        problems.push(`${file}: selector ${k}=${v} does not match the pod labels`);
    for (const c of t.spec.containers)
      problems.push(
        ...checkContainer(
          `${file} ${doc.kind}/${doc.metadata.name} ${c.name}`,
          c,
          t.spec.volumes ?? [],
          helps,
          configMaps,
          references,
        ),
      );
  }
  for (const { file, doc } of docs) {
    if (doc.kind !== 'Service') continue;
    const sel = doc.spec!.selector ?? {};
    const targets = workloads.filter(({ doc: w }) =>
      Object.entries(sel).every(([k, v]) => w.spec!.template!.metadata.labels[k] === v),
    );
    if (targets.length !== 1) {
      problems.push(`${file}: Service ${doc.metadata.name} selects ${targets.length} workloads`);
      continue;
    }
    const ports = targets[0]!.doc.spec!.template!.spec.containers.flatMap((c) => c.ports ?? []);
    for (const p of doc.spec!.ports ?? []) {
      const t = ports.find((x) => x.name === p.targetPort || x.containerPort === p.targetPort);
      if (!t)
        problems.push(
          `${file}: Service ${doc.metadata.name} port ${p.name}: no container port ${p.targetPort}`,
        );
      else if ((t.protocol ?? 'TCP') !== (p.protocol ?? 'TCP'))
        problems.push(
          `${file}: Service ${doc.metadata.name} port ${p.name}: protocol differs from the container's`,
        );
    }
  }
  // a value naming a Service (`container-balancer:8701`, `http://global-scheduler:8080`) uses one of its ports
  const services = new Map(
    docs.filter((d) => d.doc.kind === 'Service').map((d) => [d.doc.metadata.name, d.doc.spec!.ports ?? []]),
  );
  for (const { file, doc } of workloads)
    for (const c of doc.spec!.template!.spec.containers)
      for (const e of c.env ?? [])
        for (const m of (e.value ?? '').matchAll(/(?:^|[/,])([a-z][a-z0-9-]*):(\d+)/g)) {
          const ports = services.get(m[1]!);
          if (ports && !ports.some((p) => p.port === Number(m[2])))
            problems.push(
              `${file} ${c.name}: ${e.name} dials ${m[1]}:${m[2]}, not a port of Service ${m[1]}`,
            );
        }
  return { problems, references };
}
