/**
 * Command-line parsing shared by every `main`: flags, their environment variables and `--help`, from one table.
 * Values come from (highest first) the flag, the environment variable, then the schema default.
 */
import { parseArgs } from 'node:util';
import { CoreError } from './errors.js';

export interface CliOption {
  /** `string` flags take a value; `boolean` flags do not. */
  type: 'string' | 'boolean';
  /** Environment variable read when the flag is absent. */
  env?: string;
  /** May be given more than once (values collected into an array). */
  multiple?: boolean;
  /** One line for `--help`. */
  doc: string;
  /** Shown in `--help` only; real defaults live in the config schema. */
  defaultText?: string;
  /** The config field this flag sets (default: the flag name in camelCase). */
  field?: string;
}

export interface CliSpec {
  name: string;
  summary: string;
  options: Record<string, CliOption>;
  examples?: string[];
}

export type CliResult = { help: true; text: string } | { help: false; values: Record<string, unknown> };

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Parses argv and env; returns the help text when `--help` is given. Throws CORE_ERR_USAGE on unknown flags. */
export function parseCli(spec: CliSpec, argv: string[], env: NodeJS.ProcessEnv = process.env): CliResult {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {
    help: { type: 'boolean' },
  };
  for (const [flag, o] of Object.entries(spec.options))
    options[flag] = { type: o.type, multiple: o.multiple ?? false };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  } catch (err) {
    throw new CoreError('CORE_ERR_USAGE', `${spec.name}: ${(err as Error).message} (see --help)`, {
      cause: err,
    });
  }
  if (parsed.values['help']) return { help: true, text: helpText(spec) };
  const values: Record<string, unknown> = {};
  for (const [flag, o] of Object.entries(spec.options)) {
    const field = o.field ?? camel(flag);
    let v: unknown = parsed.values[flag];
    if (v === undefined && o.env && env[o.env] !== undefined) {
      const raw = env[o.env] as string;
      v = o.multiple
        ? raw
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : o.type === 'boolean'
          ? raw === '1' || raw === 'true'
          : raw;
    }
    if (v !== undefined) setPath(values, field, v);
  }
  return { help: false, values };
}

function setPath(target: Record<string, unknown>, dotted: string, v: unknown): void {
  const parts = dotted.split('.');
  let o = target;
  for (const p of parts.slice(0, -1)) o = (o[p] ??= {}) as Record<string, unknown>;
  o[parts[parts.length - 1]!] = v;
}

export function helpText(spec: CliSpec): string {
  const rows = Object.entries(spec.options).map(([flag, o]) => {
    const left = `  --${flag}${o.type === 'string' ? ' <value>' : ''}`;
    const extra = [o.env ? `env ${o.env}` : '', o.defaultText ? `default ${o.defaultText}` : '']
      .filter(Boolean)
      .join(', ');
    return `${left.padEnd(34)} ${o.doc}${extra ? ` [${extra}]` : ''}`;
  });
  const ex = spec.examples?.length ? `\nExamples:\n${spec.examples.map((e) => `  ${e}`).join('\n')}\n` : '';
  return `${spec.name} — ${spec.summary}\n\nUsage: ${spec.name} [options]\n\nOptions:\n${rows.join('\n')}\n  --help${' '.repeat(28)} show this help\n${ex}`;
}
