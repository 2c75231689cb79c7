/** KEY=value files (systemd `EnvironmentFile`, C12's pop-host.env): assignments, and assignments commented out. */
import fs from 'node:fs';

export interface EnvLine {
  key: string;
  value: string;
  line: number;
  /** `# KEY=value`: a documented alternative, still held to the apps' real env names. */
  commented: boolean;
}

export function parseEnvFile(file: string): EnvLine[] {
  const out: EnvLine[] = [];
  fs.readFileSync(file, 'utf8')
    .split('\n')
    .forEach((raw, i) => {
      const m = /^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/.exec(raw.trim());
      if (m) out.push({ key: m[2]!, value: m[3]!, line: i + 1, commented: m[1] !== undefined });
    });
  return out;
}

/** `${NAME}` placeholders of a value. */
export function placeholders(value: string): string[] {
  return [...value.matchAll(/\$\{([A-Z_][A-Z0-9_]*)\}/g)].map((m) => m[1]!);
}
