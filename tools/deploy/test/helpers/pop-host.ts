/** C12: the DaemonSet's POP containers set exactly the variables of tools/deploy/pop-host/pop-host.env. */
import path from 'node:path';
import { parseEnvFile, placeholders } from './env-file.js';
import type { Doc } from './kubernetes.js';
import { DEPLOY } from './programs.js';

export const POP_HOST_ENV = path.join(DEPLOY, 'pop-host/pop-host.env');
/** The placeholders C12 names. */
export const C12_PLACEHOLDERS = [
  'HOST_ID',
  'HOST_ADDR',
  'VIP',
  'INNER_ADDR',
  'POP_PEERS',
  'KEYRING_FILE',
  'TOKEN_FILE',
];

export function checkPopHostEnv(daemonSet: Doc): string[] {
  const problems: string[] = [];
  const containers = daemonSet.spec!.template!.spec.containers;
  for (const l of parseEnvFile(POP_HOST_ENV).filter((x) => !x.commented)) {
    const where = `pop-host.env:${l.line} ${l.key}`;
    for (const p of placeholders(l.value))
      if (!C12_PLACEHOLDERS.includes(p)) problems.push(`${where}: \${${p}} is not a C12 placeholder`);
    const k8sValue = l.value.replace(/\$\{([A-Z_][A-Z0-9_]*)\}/g, '$($1)');
    const setting = containers.flatMap((c) =>
      (c.env ?? []).filter((e) => e.name === l.key).map((e) => ({ c, e })),
    );
    if (!setting.length) problems.push(`${where}: no container of the DaemonSet sets it`);
    for (const { c, e } of setting) {
      // `KEY=${KEY}` is the placeholder itself: the DaemonSet takes it from the node or a ConfigMap
      const same =
        l.value === `\${${l.key}}`
          ? e.valueFrom !== undefined || e.value !== undefined
          : e.value === k8sValue;
      if (!same) problems.push(`${where}: ${c.name} sets ${String(e.value)}, the file ${k8sValue}`);
      for (const p of placeholders(l.value))
        if (!(c.env ?? []).some((x) => x.name === p))
          problems.push(`${where}: ${c.name} does not define ${p}`);
    }
  }
  return problems;
}
